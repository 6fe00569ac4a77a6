// The run store: SQLite in WAL mode under .portflow/ of the working directory.
// Every state transition is written here before the engine acts on it, so a
// crashed run can be resumed and inspected from another terminal.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace portflow {

struct RunRecord {
  std::string id;
  std::string workload;       // metadata.name
  std::string workload_file;  // as given on the command line
  std::string workload_dir;   // absolute
  std::string params;         // JSON object of -p overrides
  std::string target;
  std::string state;  // Running, Succeeded, Failed, Cancelled
  std::string message;
  std::string run_dir;  // absolute
  int64_t created_ms = 0;
  int64_t finished_ms = 0;  // 0 while running
  int engine_pid = 0;       // the portflow process driving it
  bool keep_going = false;
  bool strict = false;
  bool cancel_requested = false;
  // Where the outputs are, as JSON: {"root": the artifact root as tasks see
  // it, "dir": the folder on this machine that holds them ("" when only a
  // cluster's volume does), "where": what the run's summary says}.
  std::string outputs;
  // What the run cost on a priced target, as JSON: {"usd", "nodes",
  // "detail"} (Backend::RunCost); "" where the target is not priced.
  std::string cost;
};

// Instance states: Waiting, Pending, Running, Retrying, Succeeded, Failed,
// Cancelled, Skipped.
inline bool IsTerminalInstanceState(const std::string& state) {
  return state == "Succeeded" || state == "Failed" || state == "Cancelled" || state == "Skipped";
}

struct InstanceRecord {
  std::string run_id;
  std::string name;
  std::string step;
  std::string state;
  int attempts = 0;
  std::string message;
  int64_t updated_ms = 0;
};

struct AttemptRecord {
  std::string run_id;
  std::string instance;
  int attempt = 0;
  std::string state;  // a TaskState name, or Submitting before Submit returns
  std::string backend;
  std::string handle;  // TaskHandle::data
  int replicas = 1;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  int exit_code = 0;
  int signal = 0;
  std::string reason;
  std::string message;
  std::string cost;    // US dollars (a number's text); "" where not priced
  std::string member;  // the composite backend's member it ran on; "" for none
};

struct EventRecord {
  int64_t seq = 0;
  std::string run_id;
  int64_t time_ms = 0;
  std::string instance;  // "" for run-level events
  int attempt = 0;
  std::string type;  // e.g. Submitted, Running, Succeeded, Failed, Retrying
  std::string message;
};

class RunStore {
 public:
  // Opens (creating when missing) `dir`/state.db.
  static Result<std::unique_ptr<RunStore>> Open(const std::string& dir);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& dir() const { return dir_; }

  Status CreateRun(const RunRecord& run);
  // Writes the mutable fields (state, message, finished, pid, flags).
  Status UpdateRun(const RunRecord& run);
  Result<RunRecord> GetRun(const std::string& id);  // NotFound when absent
  Result<std::vector<RunRecord>> ListRuns();        // newest first
  Status RequestCancel(const std::string& id);

  Status PutInstance(const InstanceRecord& rec);
  Result<std::vector<InstanceRecord>> ListInstances(const std::string& run_id);

  Status PutAttempt(const AttemptRecord& rec);
  // Forgets an attempt that never started (its number is used again).
  Status DeleteAttempt(const std::string& run_id, const std::string& instance, int attempt);
  Result<std::vector<AttemptRecord>> ListAttempts(const std::string& run_id);

  Status AddEvent(const EventRecord& ev);
  Result<std::vector<EventRecord>> ListEvents(const std::string& run_id, int64_t after_seq = 0);

  // Several writes as one transaction. Nested calls join the outermost one,
  // which alone commits; a Begin that failed opened nothing.
  Status Begin();
  Status Commit();
  // Transactions committed through this connection (what a commit costs is
  // most of a step's store work).
  int64_t commits() const { return commits_; }
  // Rolls back the transaction open, if any (a caller unwinding from an
  // error), so that later writes land on their own; what was written before
  // its last Keep is committed first.
  void Abandon();
  // Marks what the open transaction holds so far as kept: an Abandon after
  // this rolls back only what was written since (the engine's group commit
  // keeps a turn's writes open into the next turn, whose failure must not
  // take them).
  Status Keep();
  // Whether the open transaction has written anything (rows changed since
  // it began).
  bool Dirty() const;

 private:
  RunStore(sqlite3* db, std::string dir) : db_(db), dir_(std::move(dir)) {}
  Status Exec(const std::string& sql);
  bool HasColumn(const std::string& table, const std::string& column);
  sqlite3* db_;
  std::string dir_;
  int depth_ = 0;
  bool kept_ = false;  // a savepoint marks what Keep kept
  int64_t changes_at_begin_ = 0;
  int64_t commits_ = 0;
  // Prepared statements by their SQL, found without copying the text.
  struct SqlHash {
    using is_transparent = void;
    size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> cache_;
};

}  // namespace portflow

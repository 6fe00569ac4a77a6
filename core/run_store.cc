#include "core/run_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <string_view>
#include <thread>
#include <utility>

namespace portflow {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, workload TEXT, workload_file TEXT, workload_dir TEXT, params TEXT,
  target TEXT, state TEXT, message TEXT, run_dir TEXT, created_ms INTEGER, finished_ms INTEGER,
  engine_pid INTEGER, keep_going INTEGER, strict INTEGER, cancel_requested INTEGER DEFAULT 0,
  outputs TEXT DEFAULT '', cost TEXT DEFAULT '');
CREATE TABLE IF NOT EXISTS instances (
  run_id TEXT, name TEXT, step TEXT, state TEXT, attempts INTEGER, message TEXT, updated_ms INTEGER,
  PRIMARY KEY (run_id, name));
CREATE TABLE IF NOT EXISTS attempts (
  run_id TEXT, instance TEXT, attempt INTEGER, state TEXT, backend TEXT, handle TEXT,
  replicas INTEGER, started_ms INTEGER, finished_ms INTEGER, exit_code INTEGER, signal INTEGER,
  reason TEXT, message TEXT, cost TEXT DEFAULT '', member TEXT DEFAULT '',
  PRIMARY KEY (run_id, instance, attempt));
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, time_ms INTEGER, instance TEXT,
  attempt INTEGER, type TEXT, message TEXT);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);
)sql";

// A use of a prepared statement (kept in the store's cache): binds in order,
// and resets itself for the next use.
class Stmt {
 public:
  template <typename Cache>
  Stmt(sqlite3* db, Cache& cache, std::string_view sql) : db_(db) {
    auto it = cache.find(sql);
    if (it != cache.end()) {
      stmt_ = it->second;
      rc_ = SQLITE_OK;
      return;
    }
    rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
    if (rc_ == SQLITE_OK) cache.emplace(sql, stmt_);
  }
  ~Stmt() {
    if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  // Not copied: the text must outlive the statement's use (this Stmt), so
  // a temporary is refused.
  Stmt& Bind(const std::string& v) {
    sqlite3_bind_text(stmt_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& Bind(std::string&&) = delete;
  Stmt& Bind(const char*) = delete;  // would bind a bool
  Stmt& Bind(int64_t v) {
    sqlite3_bind_int64(stmt_, ++n_, v);
    return *this;
  }
  Stmt& Bind(int v) { return Bind(static_cast<int64_t>(v)); }
  Stmt& Bind(bool v) { return Bind(static_cast<int64_t>(v)); }
  Status Run() {
    if (rc_ != SQLITE_OK) return Error();
    int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return Error();
    return OkStatus();
  }
  // Calls `row` for every result row.
  Status Each(const std::function<void()>& row) {
    if (rc_ != SQLITE_OK) return Error();
    int rc;
    while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) row();
    if (rc != SQLITE_DONE) return Error();
    return OkStatus();
  }
  std::string Text(int col) {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  Status Error() {
    int code = sqlite3_errcode(db_);
    std::string msg = std::string("run store: ") + sqlite3_errmsg(db_);
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return Unavailable(msg);
    return Internal(msg);
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
  int n_ = 0;
};

constexpr const char* kRunColumns =
    "id, workload, workload_file, workload_dir, params, target, state, message, run_dir, "
    "created_ms, finished_ms, engine_pid, keep_going, strict, cancel_requested, outputs, cost";

RunRecord ReadRun(Stmt& s) {
  RunRecord r;
  r.id = s.Text(0);
  r.workload = s.Text(1);
  r.workload_file = s.Text(2);
  r.workload_dir = s.Text(3);
  r.params = s.Text(4);
  r.target = s.Text(5);
  r.state = s.Text(6);
  r.message = s.Text(7);
  r.run_dir = s.Text(8);
  r.created_ms = s.Int(9);
  r.finished_ms = s.Int(10);
  r.engine_pid = static_cast<int>(s.Int(11));
  r.keep_going = s.Int(12) != 0;
  r.strict = s.Int(13) != 0;
  r.cancel_requested = s.Int(14) != 0;
  r.outputs = s.Text(15);
  r.cost = s.Text(16);
  return r;
}

}  // namespace

Result<std::unique_ptr<RunStore>> RunStore::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return FailedPrecondition("cannot create " + dir + ": " + ec.message());
  sqlite3* db = nullptr;
  std::string path = dir + "/state.db";
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return FailedPrecondition("cannot open run store " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 10000);
  std::unique_ptr<RunStore> store(new RunStore(db, dir));
  // Two portflows that create the store at once can find it locked even
  // with the busy timeout (switching to WAL, or both upgrading a read lock
  // to a write): the setup is tried again a while.
  Status setup;
  for (int tries = 0; tries < 50; ++tries) {
    setup =
        store->Exec("PRAGMA page_size=1024; PRAGMA synchronous=NORMAL; PRAGMA journal_mode=WAL;");
    if (setup.ok()) setup = store->Exec(kSchema);
    // Stores made before a column existed get it.
    if (setup.ok() && !store->HasColumn("runs", "outputs"))
      setup = store->Exec("ALTER TABLE runs ADD COLUMN outputs TEXT DEFAULT ''");
    if (setup.ok() && !store->HasColumn("attempts", "cost"))
      setup = store->Exec("ALTER TABLE attempts ADD COLUMN cost TEXT DEFAULT ''");
    if (setup.ok() && !store->HasColumn("runs", "cost"))
      setup = store->Exec("ALTER TABLE runs ADD COLUMN cost TEXT DEFAULT ''");
    if (setup.ok() && !store->HasColumn("attempts", "member"))
      setup = store->Exec("ALTER TABLE attempts ADD COLUMN member TEXT DEFAULT ''");
    int code = sqlite3_errcode(db) & 0xff;
    if (setup.ok() || (code != SQLITE_BUSY && code != SQLITE_LOCKED)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + 10 * tries));
  }
  RETURN_IF_ERROR(setup);
  return store;
}

RunStore::~RunStore() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Status RunStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Internal("run store: " + msg);
  }
  return OkStatus();
}

bool RunStore::HasColumn(const std::string& table, const std::string& column) {
  Stmt s(db_, cache_, "SELECT 1 FROM pragma_table_info(?) WHERE name=?");
  s.Bind(table).Bind(column);
  bool found = false;
  (void)s.Each([&] { found = true; });
  return found;
}

// Both prepared once (the engine begins and commits a few times a task).
Status RunStore::Begin() {
  if (depth_ == 0) {
    RETURN_IF_ERROR(Stmt(db_, cache_, "BEGIN IMMEDIATE").Run());
    changes_at_begin_ = sqlite3_total_changes64(db_);
  }
  ++depth_;
  return OkStatus();
}

bool RunStore::Dirty() const {
  return depth_ > 0 && sqlite3_total_changes64(db_) != changes_at_begin_;
}

Status RunStore::Commit() {
  if (depth_ == 0) return FailedPrecondition("run store: Commit without Begin");
  if (--depth_ > 0) return OkStatus();
  kept_ = false;  // the savepoint ends with the transaction
  RETURN_IF_ERROR(Stmt(db_, cache_, "COMMIT").Run());
  ++commits_;
  return OkStatus();
}

void RunStore::Abandon() {
  depth_ = 0;
  bool kept = std::exchange(kept_, false);
  // Also one whose COMMIT failed: SQLite keeps it open.
  if (sqlite3_get_autocommit(db_) != 0) return;
  if (kept && Exec("ROLLBACK TO kept; RELEASE kept").ok() && Exec("COMMIT").ok()) return;
  (void)Exec("ROLLBACK");
}

Status RunStore::Keep() {
  if (depth_ == 0) return FailedPrecondition("run store: Keep without Begin");
  if (kept_) RETURN_IF_ERROR(Stmt(db_, cache_, "RELEASE kept").Run());
  kept_ = false;
  RETURN_IF_ERROR(Stmt(db_, cache_, "SAVEPOINT kept").Run());
  kept_ = true;
  return OkStatus();
}

Status RunStore::CreateRun(const RunRecord& r) {
  Stmt s(db_, cache_,
         "INSERT INTO runs (id, workload, workload_file, workload_dir, params, target, state, "
         "message, run_dir, created_ms, finished_ms, engine_pid, keep_going, strict, outputs) "
         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.Bind(r.id).Bind(r.workload).Bind(r.workload_file).Bind(r.workload_dir).Bind(r.params);
  s.Bind(r.target).Bind(r.state).Bind(r.message).Bind(r.run_dir).Bind(r.created_ms);
  s.Bind(r.finished_ms).Bind(r.engine_pid).Bind(r.keep_going).Bind(r.strict).Bind(r.outputs);
  Status st = s.Run();
  if (!st.ok() && sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return AlreadyExists("run " + r.id + " already exists");
  }
  return st;
}

Status RunStore::UpdateRun(const RunRecord& r) {
  Stmt s(db_, cache_,
         "UPDATE runs SET state=?, message=?, finished_ms=?, engine_pid=?, keep_going=?, "
         "strict=?, cancel_requested=?, cost=? WHERE id=?");
  s.Bind(r.state).Bind(r.message).Bind(r.finished_ms).Bind(r.engine_pid).Bind(r.keep_going);
  s.Bind(r.strict).Bind(r.cancel_requested).Bind(r.cost).Bind(r.id);
  return s.Run();
}

Result<RunRecord> RunStore::GetRun(const std::string& id) {
  Stmt s(db_, cache_, (std::string("SELECT ") + kRunColumns + " FROM runs WHERE id=?").c_str());
  s.Bind(id);
  std::optional<RunRecord> found;
  RETURN_IF_ERROR(s.Each([&] { found = ReadRun(s); }));
  if (!found) return NotFound("no run \"" + id + "\" in " + dir_ + " (see `portflow runs`)");
  return *found;
}

Result<std::vector<RunRecord>> RunStore::ListRuns() {
  Stmt s(db_, cache_,
         (std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY created_ms DESC, id DESC")
             .c_str());
  std::vector<RunRecord> out;
  RETURN_IF_ERROR(s.Each([&] { out.push_back(ReadRun(s)); }));
  return out;
}

Status RunStore::RequestCancel(const std::string& id) {
  Stmt s(db_, cache_, "UPDATE runs SET cancel_requested=1 WHERE id=?");
  s.Bind(id);
  return s.Run();
}

Status RunStore::PutInstance(const InstanceRecord& r) {
  Stmt s(db_, cache_,
         "INSERT INTO instances (run_id, name, step, state, attempts, message, updated_ms) "
         "VALUES (?,?,?,?,?,?,?) ON CONFLICT (run_id, name) DO UPDATE SET state=excluded.state, "
         "attempts=excluded.attempts, message=excluded.message, updated_ms=excluded.updated_ms");
  s.Bind(r.run_id).Bind(r.name).Bind(r.step).Bind(r.state).Bind(r.attempts).Bind(r.message);
  s.Bind(r.updated_ms);
  return s.Run();
}

Result<std::vector<InstanceRecord>> RunStore::ListInstances(const std::string& run_id) {
  Stmt s(db_, cache_,
         "SELECT run_id, name, step, state, attempts, message, updated_ms FROM instances "
         "WHERE run_id=? ORDER BY rowid");
  s.Bind(run_id);
  std::vector<InstanceRecord> out;
  RETURN_IF_ERROR(s.Each([&] {
    out.push_back({s.Text(0), s.Text(1), s.Text(2), s.Text(3), static_cast<int>(s.Int(4)),
                   s.Text(5), s.Int(6)});
  }));
  return out;
}

Status RunStore::PutAttempt(const AttemptRecord& r) {
  Stmt s(db_, cache_,
         "INSERT INTO attempts (run_id, instance, attempt, state, backend, handle, replicas, "
         "started_ms, finished_ms, exit_code, signal, reason, message, cost, member) "
         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (run_id, instance, attempt) DO UPDATE "
         "SET state=excluded.state, backend=excluded.backend, handle=excluded.handle, "
         "replicas=excluded.replicas, started_ms=excluded.started_ms, "
         "finished_ms=excluded.finished_ms, exit_code=excluded.exit_code, "
         "signal=excluded.signal, reason=excluded.reason, message=excluded.message, "
         "cost=excluded.cost, member=excluded.member");
  s.Bind(r.run_id).Bind(r.instance).Bind(r.attempt).Bind(r.state).Bind(r.backend).Bind(r.handle);
  s.Bind(r.replicas).Bind(r.started_ms).Bind(r.finished_ms).Bind(r.exit_code).Bind(r.signal);
  s.Bind(r.reason).Bind(r.message).Bind(r.cost).Bind(r.member);
  return s.Run();
}

Status RunStore::DeleteAttempt(const std::string& run_id, const std::string& instance,
                               int attempt) {
  Stmt s(db_, cache_, "DELETE FROM attempts WHERE run_id=? AND instance=? AND attempt=?");
  s.Bind(run_id).Bind(instance).Bind(attempt);
  return s.Run();
}

Result<std::vector<AttemptRecord>> RunStore::ListAttempts(const std::string& run_id) {
  Stmt s(db_, cache_,
         "SELECT run_id, instance, attempt, state, backend, handle, replicas, started_ms, "
         "finished_ms, exit_code, signal, reason, message, cost, member FROM attempts WHERE "
         "run_id=? "
         "ORDER BY rowid");
  s.Bind(run_id);
  std::vector<AttemptRecord> out;
  RETURN_IF_ERROR(s.Each([&] {
    AttemptRecord r;
    r.run_id = s.Text(0);
    r.instance = s.Text(1);
    r.attempt = static_cast<int>(s.Int(2));
    r.state = s.Text(3);
    r.backend = s.Text(4);
    r.handle = s.Text(5);
    r.replicas = static_cast<int>(s.Int(6));
    r.started_ms = s.Int(7);
    r.finished_ms = s.Int(8);
    r.exit_code = static_cast<int>(s.Int(9));
    r.signal = static_cast<int>(s.Int(10));
    r.reason = s.Text(11);
    r.message = s.Text(12);
    r.cost = s.Text(13);
    r.member = s.Text(14);
    out.push_back(std::move(r));
  }));
  return out;
}

Status RunStore::AddEvent(const EventRecord& e) {
  Stmt s(db_, cache_,
         "INSERT INTO events (run_id, time_ms, instance, attempt, type, message) "
         "VALUES (?,?,?,?,?,?)");
  s.Bind(e.run_id).Bind(e.time_ms).Bind(e.instance).Bind(e.attempt).Bind(e.type).Bind(e.message);
  return s.Run();
}

Result<std::vector<EventRecord>> RunStore::ListEvents(const std::string& run_id,
                                                      int64_t after_seq) {
  Stmt s(db_, cache_,
         "SELECT seq, run_id, time_ms, instance, attempt, type, message FROM events "
         "WHERE run_id=? AND seq>? ORDER BY seq");
  s.Bind(run_id).Bind(after_seq);
  std::vector<EventRecord> out;
  RETURN_IF_ERROR(s.Each([&] {
    out.push_back({s.Int(0), s.Text(1), s.Int(2), s.Text(3), static_cast<int>(s.Int(4)), s.Text(5),
                   s.Text(6)});
  }));
  return out;
}

}  // namespace portflow

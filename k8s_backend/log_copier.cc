#include "k8s_backend/log_copier.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>
#include <thread>

#include "core/log.h"

namespace portflow::k8s {

// How long a copy thread with nothing to do waits for the next copy.
constexpr std::chrono::seconds kThreadKeptFor{2};
// Ends a journal line left torn (by a crash, a full disk) so that it never
// reads as whole: "F\tP\t12" cut from "F\tP\t12345" becomes "F\tP\t12#".
constexpr char kTornEnd[] = "#\n";

bool LogCopier::Start(ApiClient* client, const std::string& pod_path, const std::string& pod,
                      const std::string& file, std::function<bool()> ended,
                      std::function<void()> done) {
  std::unique_lock<std::mutex> l(mu_);
  if (stopping_) return false;
  ++running_;
  queue_.push_back({[this, client, pod_path, pod, file, ended = std::move(ended)] {
                      Copy(client, pod_path, pod, file, ended);
                    },
                    std::move(done)});
  if (queue_.size() <= static_cast<size_t>(idle_)) {  // an idle thread for each copy queued
    queued_.notify_one();
    return true;
  }
  ++threads_;
  ++idle_;
  try {
    start_thread_([this] { Work(); });
  } catch (const std::system_error& e) {
    --threads_;
    --idle_;
    PORTFLOW_LOG(LogLevel::kWarn, "k8s",
                 std::string("no thread could be started to copy the log of pod ") + pod + " (" +
                     e.what() + "); " +
                     (threads_ > 0 ? "it waits for a copy thread" : "copied on this thread"));
    if (threads_ == 0) {  // none would ever take it
      Copied job = std::move(queue_.back());
      queue_.pop_back();
      Run(l, job);
    }
  }
  return true;
}

void LogCopier::DetachedThread(std::function<void()> work) {
  std::thread(std::move(work)).detach();
}

void LogCopier::Work() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    // Real time: a thread kept is not a matter of the run's clock.
    queued_.wait_for(l, kThreadKeptFor, [this] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) break;  // a Stop, or nothing for a while
    Copied job = std::move(queue_.front());
    queue_.pop_front();
    --idle_;
    Run(l, job);  // its `done` may wait on the API server: this thread is not free meanwhile
    ++idle_;
  }
  --idle_;
  --threads_;
  cv_.notify_all();
}

void LogCopier::Run(std::unique_lock<std::mutex>& l, const Copied& job) {
  l.unlock();
  job.first();
  job.second();
  l.lock();
  --running_;
  cv_.notify_all();  // Stop() waits for the last one
}

int LogCopier::IdleThreads() const {
  std::lock_guard<std::mutex> l(mu_);
  return idle_;
}

void LogCopier::Stop() {
  std::unique_lock<std::mutex> l(mu_);
  stopping_ = true;
  for (StreamStop* s : streams_) s->Stop();
  cv_.notify_all();
  queued_.notify_all();
  cv_.wait(l, [this] { return running_ == 0 && threads_ == 0; });
}

LogCopier::~LogCopier() {
  Stop();
  for (const auto& [dir, fd] : journals_)
    if (fd >= 0) ::close(fd);
}

bool LogCopier::ReadJournal(const std::string& dir) {
  std::ifstream in(dir + "/" + kPartsJournal);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) return !line.empty();  // a last line with no end, torn by a crash
    size_t tab1 = line.find('\t');
    size_t tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
    if (tab2 == std::string::npos) continue;
    uint64_t offset = 0;
    const char* end = line.data() + line.size();
    auto [at, ec] = std::from_chars(line.data() + tab2 + 1, end, offset);
    if (ec != std::errc() || at != end) continue;
    parts_[dir + "/" + line.substr(0, tab1)] = {line.substr(tab1 + 1, tab2 - tab1 - 1), offset};
  }
  return false;
}

uint64_t LogCopier::PartOf(const std::string& file, const std::string& pod) {
  size_t slash = file.rfind('/');
  std::string dir = slash == std::string::npos ? "." : file.substr(0, slash);
  std::lock_guard<std::mutex> l(mu_);
  auto journal = journals_.find(dir);
  if (journal == journals_.end()) {
    bool torn = ReadJournal(dir);
    int fd = ::open((dir + "/" + kPartsJournal).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                    0644);
    if (fd >= 0 && torn) (void)!::write(fd, kTornEnd, 2);
    journal = journals_.emplace(dir, fd).first;
  }
  auto known = parts_.find(file);
  std::error_code ec;
  if (known == parts_.end() && std::filesystem::exists(file, ec)) {
    // A log begun by an older portflow, with its mark beside it.
    std::ifstream in(file + ".pod");
    std::string held;
    uint64_t offset = 0;
    if (in >> held >> offset) known = parts_.emplace(file, std::pair{held, offset}).first;
  }
  if (known != parts_.end() && known->second.first != pod) {
    uint64_t size = std::filesystem::file_size(file, ec);
    known->second.second = ec ? 0 : size;  // after the replaced pod's log
  }
  auto& part = parts_[file];
  part.first = pod;
  std::string line =
      file.substr(slash + 1) + "\t" + pod + "\t" + std::to_string(part.second) + "\n";
  if (journal->second >= 0) {
    ssize_t n = ::write(journal->second, line.data(), line.size());
    if (n > 0 && static_cast<size_t>(n) < line.size()) (void)!::write(journal->second, kTornEnd, 2);
  }
  return part.second;
}

void LogCopier::Copy(ApiClient* client, const std::string& pod_path, const std::string& pod,
                     const std::string& file, const std::function<bool()>& ended) {
  StreamStop stop;
  {
    std::lock_guard<std::mutex> l(mu_);
    streams_.insert(&stop);
    if (stopping_) stop.Stop();
  }
  uint64_t base = PartOf(file, pod);
  // This pod's part of the file, from the top of it.
  auto open = [&] {
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) std::filesystem::resize_file(file, base, ec);
    return std::ofstream(file, std::ios::binary | std::ios::app);
  };
  // A pod that has ended already is read whole, with one call: a follow
  // would add nothing but a stream's set-up.
  bool complete = false, follow = !ended();
  for (int tries = 0; client && follow && !complete && !stop.stopped() && tries < 20; ++tries) {
    if (tries > 0 && ended()) break;  // the whole log, below
    if (tries > 0) {
      std::unique_lock<std::mutex> l(mu_);
      clock_.WaitUntil(l, cv_, clock_.Now() + std::chrono::milliseconds(100 * tries),
                       [this] { return stopping_; });
    }
    std::ofstream out = open();
    std::optional<TimePoint> ended_at;  // of the pod, seen in a quiet moment
    bool stuck = false;
    auto r = client->Stream(
        {"GET", pod_path + "/log?follow=true", ""},
        [&](std::string_view data) {
          if (data.empty()) {  // about once a second while the stream is quiet
            if (!ended()) return true;
            if (!ended_at) ended_at = clock_.Now();
            stuck = clock_.Now() - *ended_at >= std::chrono::seconds(3);
            return !stuck;
          }
          out.write(data.data(), static_cast<std::streamsize>(data.size()));
          out.flush();
          return true;
        },
        &stop);
    complete = r.ok() && r->status == 200 && !stop.stopped() && !stuck;
  }
  if (client && !complete && !stop.stopped()) {
    auto whole = client->Call({"GET", pod_path + "/log", ""});
    if (whole.ok() && whole->status == 200) open() << whole->body;
  }
  std::lock_guard<std::mutex> l(mu_);
  streams_.erase(&stop);
}

}  // namespace portflow::k8s

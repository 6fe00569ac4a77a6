// The only file that includes spdlog: its headers (and fmt's) are heavy.
#include "core/log.h"

#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <atomic>
#include <cctype>

namespace portflow {

struct RunLog::Sink {
  spdlog::sink_ptr file;
};

namespace {

constexpr std::string_view kNames[] = {"trace", "debug", "info", "warn", "error", "off"};

spdlog::level::level_enum SpdLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      break;
  }
  return spdlog::level::off;
}

// One logger whose sink fans out to the console and the open run logs; the
// dist sink's own lock makes adding and removing run logs safe while other
// threads log.
struct Logging {
  Logging()
      : dist(std::make_shared<spdlog::sinks::dist_sink_mt>()),
        console(std::make_shared<spdlog::sinks::stderr_sink_mt>()),
        logger("portflow", dist) {
    console->set_pattern("portflow[%l] %v");
    console->set_level(SpdLevel(LogLevel::kWarn));
    dist->add_sink(console);
    logger.set_level(spdlog::level::trace);
    logger.flush_on(spdlog::level::trace);  // a crash loses no line
  }
  std::shared_ptr<spdlog::sinks::dist_sink_mt> dist;
  std::shared_ptr<spdlog::sinks::stderr_sink_mt> console;
  spdlog::logger logger;
  std::atomic<int> console_level{static_cast<int>(LogLevel::kWarn)};
  std::atomic<int> run_logs{0};
};

Logging& State() {
  // Never destroyed: threads may still log while the process exits.
  static Logging* state = new Logging;
  return *state;
}

}  // namespace

std::string_view LogLevelName(LogLevel level) { return kNames[static_cast<int>(level)]; }

Result<LogLevel> ParseLogLevel(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (int i = 0; i < static_cast<int>(std::size(kNames)); ++i) {
    if (lower == kNames[i]) return static_cast<LogLevel>(i);
  }
  return InvalidArgument("unknown log level \"" + std::string(name) +
                         "\"; one of trace, debug, info, warn, error, off");
}

void SetConsoleLogLevel(LogLevel level) {
  State().console->set_level(SpdLevel(level));
  State().console_level.store(static_cast<int>(level));
}

LogLevel ConsoleLogLevel() { return static_cast<LogLevel>(State().console_level.load()); }

bool LogEnabled(LogLevel level) {
  if (level == LogLevel::kOff) return false;
  int l = static_cast<int>(level);
  const Logging& s = State();
  return l >= s.console_level.load(std::memory_order_relaxed) ||
         (l >= static_cast<int>(LogLevel::kDebug) &&
          s.run_logs.load(std::memory_order_relaxed) > 0);
}

void Log(LogLevel level, std::string_view component, const std::string& message) {
  if (!LogEnabled(level)) return;
  State().logger.log(SpdLevel(level), "{}: {}", component, message);
}

Result<std::unique_ptr<RunLog>> RunLog::Open(const std::string& run_dir) {
  std::string path = run_dir + "/portflow.log";
  auto sink = std::make_unique<Sink>();
  try {
    sink->file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  } catch (const spdlog::spdlog_ex& e) {
    return Unavailable("cannot open " + path + ": " + e.what());
  }
  sink->file->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l [%t] %v");
  sink->file->set_level(spdlog::level::debug);
  State().dist->add_sink(sink->file);
  State().run_logs.fetch_add(1);
  return std::unique_ptr<RunLog>(new RunLog(std::move(path), std::move(sink)));
}

RunLog::RunLog(std::string path, std::unique_ptr<Sink> sink)
    : path_(std::move(path)), sink_(std::move(sink)) {}

RunLog::~RunLog() {
  State().dist->remove_sink(sink_->file);
  State().run_logs.fetch_sub(1);
}

}  // namespace portflow

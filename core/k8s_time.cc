#include "core/k8s_time.h"

#include <cctype>
#include <ctime>
#include <optional>

namespace portflow {

std::string K8sTime(TimePoint t) {
  std::time_t secs = static_cast<std::time_t>(ToUnixMillis(t) / 1000);
  // Callers ask for the same second many times over (a pod's status names
  // its time five times; the fake cluster writes thousands a second): the
  // last one formatted is kept, per thread.
  thread_local std::optional<std::time_t> last;
  thread_local char buf[32];
  if (last != secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    last = secs;
  }
  return buf;
}

std::optional<TimePoint> ParseK8sTime(const std::string& s) {
  std::tm tm{};
  const char* rest = s.size() >= 20 ? strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) : nullptr;
  if (!rest) return std::nullopt;
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  int64_t millis = 0;
  if (*rest == '.') {  // a fraction: milliseconds kept, finer digits dropped
    int digits = 0;
    for (++rest; digit(*rest); ++rest, ++digits) {
      if (digits < 3) millis = millis * 10 + (*rest - '0');
    }
    if (digits == 0) return std::nullopt;
    for (int k = digits; k < 3; ++k) millis *= 10;
  }
  int64_t offset_minutes = 0;
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if ((*rest == '+' || *rest == '-') && digit(rest[1]) && digit(rest[2]) && rest[3] == ':' &&
             digit(rest[4]) && digit(rest[5])) {
    int hh = (rest[1] - '0') * 10 + (rest[2] - '0');
    int mm = (rest[4] - '0') * 10 + (rest[5] - '0');
    if (hh > 23 || mm > 59) return std::nullopt;
    offset_minutes = (*rest == '-' ? -1 : 1) * (hh * 60 + mm);
    rest += 6;
  } else {
    return std::nullopt;
  }
  if (*rest != '\0') return std::nullopt;
  int64_t utc = int64_t{timegm(&tm)} - offset_minutes * 60;
  return FromUnixMillis(utc * 1000 + millis);
}

}  // namespace portflow

#include "k8s_backend/fake_cluster/k8s_time.h"

#include <ctime>

namespace portflow::fake {

std::string K8sTime(TimePoint t) {
  std::time_t secs = static_cast<std::time_t>(ToUnixMillis(t) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<TimePoint> ParseK8sTime(const std::string& s) {
  std::tm tm{};
  if (s.size() < 20 || !strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  return FromUnixMillis(int64_t{timegm(&tm)} * 1000);
}

}  // namespace portflow::fake

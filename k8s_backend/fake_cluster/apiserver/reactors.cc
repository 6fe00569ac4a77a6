#include "k8s_backend/fake_cluster/apiserver/reactors.h"

#include "k8s_backend/fake_cluster/apiserver/responses.h"

namespace portflow::fake {

void ReactorChain::Prepend(std::string verb, std::string resource, React react) {
  auto reactor = std::make_shared<const Reactor>(
      Reactor{std::move(verb), std::move(resource), std::move(react)});
  std::lock_guard<std::mutex> l(mu_);
  reactors_.insert(reactors_.begin(), std::move(reactor));
}

std::optional<HttpResponse> ReactorChain::Answer(const HttpRequest& request) const {
  std::vector<std::shared_ptr<const Reactor>> reactors;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (reactors_.empty()) return std::nullopt;
    reactors = reactors_;
  }
  RequestInfo info = InfoOf(request, ParseTarget(request.target));
  for (const auto& r : reactors) {
    if (r->verb != "*" && r->verb != info.verb) continue;
    if (r->resource != "*" && r->resource != info.resource) continue;
    if (auto answer = r->react(info, request)) return answer;
  }
  return std::nullopt;
}

void FaultReactor::FailNext(int count, int code) {
  std::lock_guard<std::mutex> l(mu_);
  next_ = count;
  code_ = code;
}

void FaultReactor::FailAtRate(double rate, int code) {
  std::lock_guard<std::mutex> l(mu_);
  rate_ = rate;
  code_ = code;
}

std::optional<HttpResponse> FaultReactor::React(const RequestInfo&, const HttpRequest&) {
  int code = 0;
  bool fail = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (next_ > 0) {
      --next_;
      fail = true;
    } else if (rate_ > 0) {
      seed_ ^= seed_ << 13;  // xorshift: reproducible runs
      seed_ ^= seed_ >> 7;
      seed_ ^= seed_ << 17;
      fail = static_cast<double>(seed_ % 1000000) / 1e6 < rate_;
    }
    code = code_;
  }
  if (!fail) return std::nullopt;
  if (code == 0) return HttpResponse{0, "", "", nullptr, {}, true};
  if (code != 429) {
    return Failure(code, "InternalError",
                   "an error on the server (injected) has prevented the request from succeeding");
  }
  HttpResponse r = Failure(429, "TooManyRequests",
                           "the server has received too many requests and has asked us to try "
                           "again later");
  r.headers["Retry-After"] = "1";
  return r;
}

}  // namespace portflow::fake

// A chain of reactors, as client-go's fake clientset has (PrependReactor):
// each is matched by verb and resource and may answer an API call before the
// router does. Fault injection is a reactor; the router knows nothing of it.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "k8s_backend/fake_cluster/apiserver/http_types.h"
#include "k8s_backend/fake_cluster/apiserver/router.h"

namespace portflow::fake {

class ReactorChain {
 public:
  // An answer, or nullopt to pass the request on down the chain.
  using React = std::function<std::optional<HttpResponse>(const RequestInfo&, const HttpRequest&)>;

  // Puts `react` first, before the reactors already there. It sees calls
  // with `verb` on `resource` ("*" matches any, also calls such as GET
  // /api/v1 that name no resource).
  void Prepend(std::string verb, std::string resource, React react);

  // The answer of the first matching reactor that answers, or nullopt for
  // the router. Safe from many threads; reactors run outside the lock.
  std::optional<HttpResponse> Answer(const HttpRequest& request) const;

 private:
  struct Reactor {
    std::string verb, resource;
    React react;
  };
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const Reactor>> reactors_;  // first answers first
};

// Fails API calls for tests of clients: the next `count`, or each with a
// probability (a deterministic xorshift sequence, so runs repeat). Code 429
// comes with Retry-After: 1; 5xx is an injected internal error; 0 drops the
// connection. The count is spent before the rate applies, and one code
// serves both: the last one set.
class FaultReactor {
 public:
  void FailNext(int count, int code);
  void FailAtRate(double rate, int code);
  std::optional<HttpResponse> React(const RequestInfo& info, const HttpRequest& request);

 private:
  std::mutex mu_;
  int next_ = 0;
  int code_ = 500;
  double rate_ = 0;
  uint64_t seed_ = 88172645463325252ull;
};

}  // namespace portflow::fake

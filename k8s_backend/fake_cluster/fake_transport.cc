#include "k8s_backend/fake_cluster/fake_transport.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>

namespace portflow::fake {
namespace {

class FakeClusterTransport : public k8s::Transport {
 public:
  explicit FakeClusterTransport(FakeCluster& cluster) : cluster_(cluster) {}

  Result<k8s::ApiResponse> Send(const k8s::ApiRequest& request, const k8s::Credential&) override {
    HttpResponse r = cluster_.Handle(ToHttp(request));
    k8s::ApiResponse out = FromHttp(r);
    if (r.stream) {  // a stream asked for as a call: read it to its end
      std::string chunk;
      for (bool more = true; more;) {
        chunk.clear();
        more = r.stream(&chunk);
        out.body += chunk;
      }
    }
    return out;
  }

  Result<k8s::ApiResponse> Stream(const k8s::ApiRequest& request, const k8s::Credential&,
                                  const std::function<bool(std::string_view)>& on_data,
                                  k8s::StreamStop* stop) override {
    HttpResponse r = cluster_.Handle(ToHttp(request));
    k8s::ApiResponse out = FromHttp(r);
    if (!r.stream) {
      if (!r.body.empty()) on_data(r.body);
      return out;
    }
    // Each call waits on the cluster's clock (a second at most), so the
    // caller's stop and on_data's ticks are seen as on a socket.
    std::string chunk;
    for (bool more = true; more;) {
      if (stop && stop->stopped()) break;
      chunk.clear();
      more = r.stream(&chunk);
      if (!on_data(chunk)) break;
      // A quiet stream on a virtual clock returns at once, the clock moved
      // on: a millisecond of real time between polls keeps the streams from
      // starving the controllers that make the next thing happen.
      if (chunk.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return out;
  }

 private:
  static HttpRequest ToHttp(const k8s::ApiRequest& request) {
    HttpRequest h{request.method, request.path, {}, request.body};
    if (!request.body.empty()) h.headers["content-type"] = request.content_type;
    h.headers["accept"] = request.accept;
    return h;
  }
  static k8s::ApiResponse FromHttp(const HttpResponse& r) {
    k8s::ApiResponse out;
    if (r.drop_connection) {
      out.network_error = "the fake cluster dropped the connection";
      return out;  // status 0: no answer
    }
    out.status = r.status;
    out.body = r.stream ? "" : r.body;
    out.headers["content-type"] = r.content_type;
    for (const auto& [k, v] : r.headers) {
      std::string name = k;
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      out.headers[name] = v;
    }
    return out;
  }

  FakeCluster& cluster_;
};

}  // namespace

std::unique_ptr<k8s::Transport> MakeFakeClusterTransport(FakeCluster& cluster) {
  return std::make_unique<FakeClusterTransport>(cluster);
}

k8s::ClusterAccess ServedAccess(const FakeCluster& cluster) {
  k8s::ClusterAccess access;
  access.context = "portflow-fake";
  access.server = cluster.url();
  access.ca_pem = cluster.ca_pem();
  access.token = cluster.token();
  return access;
}

}  // namespace portflow::fake

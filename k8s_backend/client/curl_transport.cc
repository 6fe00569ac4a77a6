// The only file that includes libcurl.
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <vector>

#include "k8s_backend/client/api_client.h"

namespace portflow::k8s {
namespace {

constexpr long kConnectTimeoutSeconds = 10;
constexpr long kCallTimeoutSeconds = 60;
constexpr size_t kKeptStreams = 8;  // idle streams' handles kept, each with its connection

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void Add(const std::string& h) { list = curl_slist_append(list, h.c_str()); }
};

// A handle of the pool. A stream's handle keeps one connection alive for
// the next stream, as calls' handles do: the socket is what StreamStop
// shuts, so it is followed from its opening to its close, which may come
// in a later transfer or at the handle's cleanup (the connection keeps the
// callbacks it was opened with).
struct Handle {
  CURL* curl = curl_easy_init();
  int fd = -1;                 // the kept connection's socket (streams' handles)
  StreamStop* stop = nullptr;  // the stream in flight
  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (curl) curl_easy_cleanup(curl);  // may close the connection: OnSocketClose
  }
};

int OnSocketOpen(void* user, curl_socket_t fd, curlsocktype) {
  auto* h = static_cast<Handle*>(user);
  h->fd = static_cast<int>(fd);
  if (h->stop) h->stop->SetSocket(h->fd);
  return CURL_SOCKOPT_OK;
}
int OnSocketClose(void* user, curl_socket_t fd) {
  auto* h = static_cast<Handle*>(user);
  if (h->fd == static_cast<int>(fd)) h->fd = -1;
  if (h->stop) h->stop->ClearSocket(static_cast<int>(fd));  // first: not a reused number
  return ::close(fd);
}

struct Exchange {
  ApiResponse* response;
  const std::function<bool(std::string_view)>* on_data;  // streams only
  bool stopped = false;                                  // on_data asked to stop
  StreamStop* stop = nullptr;
  CURL* handle = nullptr;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(x->handle, CURLINFO_RESPONSE_CODE, &status);
  if (x->on_data && status >= 200 && status < 300) {  // an error's Status is not stream data
    if (!(*x->on_data)(std::string_view(data, n))) {
      x->stopped = true;
      return 0;  // aborts the transfer
    }
  } else {
    x->response->body.append(data, n);
  }
  return n;
}

// Called about once a second even when nothing arrives: a stream's reader
// gets an empty chunk, so that it can stop a quiet watch.
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* x = static_cast<Exchange*>(user);
  if (x->stop && x->stop->stopped()) {
    x->stopped = true;
    return 1;
  }
  if (x->on_data && !(*x->on_data)(std::string_view())) {
    x->stopped = true;
    return 1;  // aborts the transfer
  }
  return 0;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  std::string line(data, size * count);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
      value.erase(0, 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
      value.pop_back();
    x->response->headers[name] = value;
  } else if (line.rfind("HTTP/", 0) == 0) {
    x->response->headers.clear();  // a new response (after a 100 Continue)
  }
  return size * count;
}

void SetBlob(CURL* h, CURLoption option, const std::string& pem) {
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  curl_easy_setopt(h, option, &blob);
}

class CurlTransport : public Transport {
 public:
  explicit CurlTransport(ClusterAccess access) : access_(std::move(access)) {
    // tls-server-name: the URL names it (SNI and certificate checks use
    // it) and CONNECT_TO sends the connection to the real host.
    url_base_ = access_.server;
    while (!url_base_.empty() && url_base_.back() == '/') url_base_.pop_back();
    if (!access_.tls_server_name.empty()) {
      CURLU* u = curl_url();
      if (curl_url_set(u, CURLUPART_URL, url_base_.c_str(), 0) == CURLUE_OK) {
        char* host = nullptr;
        char* port = nullptr;
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
        if (host && port) {
          connect_to_ = access_.tls_server_name + ":" + port + ":" + host + ":" + port;
          curl_url_set(u, CURLUPART_HOST, access_.tls_server_name.c_str(), 0);
          char* url = nullptr;
          curl_url_get(u, CURLUPART_URL, &url, 0);
          if (url) url_base_ = url;
          curl_free(url);
        }
        curl_free(host);
        curl_free(port);
      }
      curl_url_cleanup(u);
    }
  }

  Result<ApiResponse> Send(const ApiRequest& request, const Credential& credential) override {
    return Perform(request, credential, nullptr);
  }
  Result<ApiResponse> Stream(const ApiRequest& request, const Credential& credential,
                             const std::function<bool(std::string_view)>& on_data,
                             StreamStop* stop) override {
    return Perform(request, credential, &on_data, stop);
  }
  std::string server() const override {
    std::string s = access_.server;
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
  }

 private:
  // Handles are pooled: each keeps its connection alive for the next call.
  // Those of streams that can be stopped are a pool of their own, whose
  // sockets are followed.
  std::unique_ptr<Handle> Take(bool stoppable) {
    std::lock_guard<std::mutex> l(mu_);
    auto& pool = idle_[stoppable ? 1 : 0];
    if (pool.empty()) return std::make_unique<Handle>();
    std::unique_ptr<Handle> h = std::move(pool.back());
    pool.pop_back();
    return h;
  }
  void Give(std::unique_ptr<Handle> h, bool stoppable) {
    std::lock_guard<std::mutex> l(mu_);
    auto& pool = idle_[stoppable ? 1 : 0];
    // Streams' handles beyond a few go, with their connections: a run's
    // peak of log follows need not hold its sockets after.
    if (stoppable && pool.size() >= kKeptStreams) return;
    pool.push_back(std::move(h));
  }

  Result<ApiResponse> Perform(const ApiRequest& request, const Credential& credential,
                              const std::function<bool(std::string_view)>* on_data,
                              StreamStop* stop = nullptr) {
    if (stop && stop->stopped()) return ApiResponse{200};
    std::unique_ptr<Handle> handle = Take(stop != nullptr);
    CURL* h = handle->curl;
    if (!h) return Internal("libcurl could not make a handle");
    curl_easy_reset(h);  // options only: live connections stay
    ApiResponse response;
    Exchange x{&response, on_data, false, stop, h};
    char error[CURL_ERROR_SIZE] = {0};
    std::string url = url_base_ + request.path;
    HeaderList headers;
    headers.Add("Accept: " + request.accept);
    headers.Add("User-Agent: portflow/0.1");
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      headers.Add("Content-Type: " + request.content_type);
    }
    if (!credential.token.empty()) headers.Add("Authorization: Bearer " + credential.token);
    headers.Add("Expect:");  // no 100-continue round trip
    curl_slist* connect_to = nullptr;
    if (!connect_to_.empty()) connect_to = curl_slist_append(nullptr, connect_to_.c_str());

    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (!request.body.empty() || request.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, on_data ? 0L : kCallTimeoutSeconds);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (stop) {
      // One connection a handle, so that its socket is the one in use: a
      // kept one is reused (no new TLS handshake), a new one is told.
      curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
      curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, OnSocketOpen);
      curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, handle.get());
      curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, OnSocketClose);
      curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, handle.get());
      handle->stop = stop;
      if (handle->fd >= 0) stop->SetSocket(handle->fd);
    }
    if (on_data) {
      curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, OnProgress);
      curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
      curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (connect_to) curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
    if (!access_.proxy_url.empty()) curl_easy_setopt(h, CURLOPT_PROXY, access_.proxy_url.c_str());
    // TLS: verification stays on unless the kubeconfig turns it off.
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, access_.insecure_skip_tls_verify ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, access_.insecure_skip_tls_verify ? 0L : 2L);
    if (!access_.ca_pem.empty()) SetBlob(h, CURLOPT_CAINFO_BLOB, access_.ca_pem);
    if (!access_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, access_.ca_file.c_str());
    const std::string& cert_pem =
        credential.client_cert_pem.empty() ? access_.client_cert_pem : credential.client_cert_pem;
    const std::string& key_pem =
        credential.client_key_pem.empty() ? access_.client_key_pem : credential.client_key_pem;
    if (!cert_pem.empty()) {
      SetBlob(h, CURLOPT_SSLCERT_BLOB, cert_pem);
      curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (!access_.client_cert_file.empty()) {
      curl_easy_setopt(h, CURLOPT_SSLCERT, access_.client_cert_file.c_str());
    }
    if (!key_pem.empty()) {
      SetBlob(h, CURLOPT_SSLKEY_BLOB, key_pem);
      curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (!access_.client_key_file.empty()) {
      curl_easy_setopt(h, CURLOPT_SSLKEY, access_.client_key_file.c_str());
    }
    if (!credential.username.empty()) {
      curl_easy_setopt(h, CURLOPT_USERNAME, credential.username.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, credential.password.c_str());
    }

    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(connect_to);
    if (stop) {
      // The connection kept, if any (of two sockets tried, the one that
      // connected); a Stop from now on must not shut it.
      curl_socket_t kept = CURL_SOCKET_BAD;
      curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &kept);
      handle->fd = kept == CURL_SOCKET_BAD ? -1 : static_cast<int>(kept);
      if (handle->fd >= 0) stop->ClearSocket(handle->fd);
      handle->stop = nullptr;
    }
    Give(std::move(handle), stop != nullptr);
    response.status = static_cast<int>(status);
    bool stopped = (x.stopped && (rc == CURLE_WRITE_ERROR || rc == CURLE_ABORTED_BY_CALLBACK)) ||
                   (stop && stop->stopped());
    if (rc == CURLE_OK || stopped) return response;
    std::string why = error[0] ? error : curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_PEER_FAILED_VERIFICATION:
        return FailedPrecondition("TLS: the certificate of " + access_.server +
                                  " is not trusted by the certificate authority of " +
                                  access_.origin + " (" + why + ")");
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_ENGINE_NOTFOUND:
        return FailedPrecondition("the TLS settings of " + access_.origin +
                                  " cannot be used: " + why);
      case CURLE_SSL_CONNECT_ERROR:
        return FailedPrecondition("TLS handshake with " + access_.server + " failed: " + why);
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_CONNECT:
        response.maybe_sent = false;
        break;
      default:
        break;
    }
    response.status = 0;
    response.network_error = access_.server + ": " + why;
    return response;
  }

  ClusterAccess access_;
  std::string url_base_;
  std::string connect_to_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_[2];  // calls' and stoppable streams' handles
};

}  // namespace

Result<std::unique_ptr<Transport>> MakeCurlTransport(const ClusterAccess& access) {
  if (access.server.rfind("https://", 0) != 0 && access.server.rfind("http://", 0) != 0) {
    return InvalidArgument("the server \"" + access.server +
                           "\" is not an http:// or https:// URL");
  }
  GlobalInit();
  return std::unique_ptr<Transport>(new CurlTransport(access));
}

}  // namespace portflow::k8s

// Benchmark: watch fan-out over real HTTPS. Serves a fake
// cluster (real clock) on 127.0.0.1, creates one pod, opens WATCHERS watches
// of the namespace's pods from the current resourceVersion on TLS sockets
// (OpenSSL, trusting the cluster's CA, with its token),
// then applies UPDATES merge patches to the pod in-process. The watches are
// read by two threads, each waiting on its share of the sockets with epoll,
// as Go clients' goroutines wait in Go's netpoller (a thread per watch made
// the readers' switches the benchmark's own cost on two cores). Prints the
// time until every watcher has received every MODIFIED event, the events
// delivered per second in all, and the peak RSS (server and clients: one
// process). Exits 1 unless each watcher saw exactly every update, in
// resourceVersion order. Usage: watch_fanout_bench [WATCHERS] [UPDATES]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "k8s_backend/fake_cluster/fake_cluster.h"

using namespace portflow;
using namespace portflow::fake;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

constexpr const char* kSeqKey = "bench.portflow.dev/seq";

// The body of one HTTP/1.1 response with chunked framing, line by line.
class ChunkedLineReader {
 public:
  explicit ChunkedLineReader(SSL* ssl) : ssl_(ssl) {}

  // Reads the response head; false unless it is a 200 with chunked framing.
  bool ReadHead(std::string* error) {
    size_t end;
    while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
      if (!Receive()) {
        *error = "the connection ended before the response head";
        return false;
      }
    }
    std::string head = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head.rfind("http/1.1 200", 0) != 0 ||
        head.find("transfer-encoding: chunked") == std::string::npos) {
      *error = "unexpected response head: " + head;
      return false;
    }
    return true;
  }

  // The next line of the body, without its '\n' (valid until the next
  // call); false at the end of the stream, when the connection ends, on bad
  // framing (see error()), or, on a non-blocking socket, when it has nothing
  // more for now (would_block()). A read brings many lines at once: they
  // are handed out in place, and what is left moved to the front once.
  bool NextLine(std::string_view* line) {
    while (true) {
      size_t nl = body_.find('\n', scanned_);
      if (nl != std::string::npos) {
        *line = std::string_view(body_).substr(start_, nl - start_);
        start_ = scanned_ = nl + 1;
        return true;
      }
      body_.erase(0, start_);
      start_ = 0;
      scanned_ = body_.size();
      if (state_ == kDone || !error_.empty()) return false;
      if (!Decode() && !Receive()) return false;
    }
  }

  const std::string& error() const { return error_; }
  bool would_block() const { return would_block_; }

 private:
  enum State { kSize, kData, kDataEnd, kDone };

  bool Receive() {
    char buf[64 * 1024];
    int n = SSL_read(ssl_, buf, sizeof buf);
    would_block_ = n <= 0 && SSL_get_error(ssl_, n) == SSL_ERROR_WANT_READ;
    if (n <= 0) return false;
    raw_.append(buf, static_cast<size_t>(n));
    return true;
  }

  // Moves chunk data from raw_ into body_; true when it consumed anything.
  bool Decode() {
    size_t pos = 0;
    while (error_.empty()) {
      if (state_ == kSize) {
        size_t eol = raw_.find("\r\n", pos);
        if (eol == std::string::npos) break;
        char* end = nullptr;
        unsigned long size = std::strtoul(raw_.c_str() + pos, &end, 16);
        if (end == raw_.c_str() + pos) error_ = "bad chunk size line";
        pos = eol + 2;
        left_ = size;
        state_ = size == 0 ? kDone : kData;  // trailers: the server sends none
        if (state_ == kDone) break;
      } else if (state_ == kData) {
        size_t n = std::min(left_, raw_.size() - pos);
        if (n == 0) break;
        body_.append(raw_, pos, n);
        pos += n;
        left_ -= n;
        if (left_ == 0) state_ = kDataEnd;
      } else if (state_ == kDataEnd) {
        if (raw_.size() - pos < 2) break;
        if (raw_.compare(pos, 2, "\r\n") != 0) error_ = "chunk data not followed by CRLF";
        pos += 2;
        state_ = kSize;
      } else {
        break;
      }
    }
    raw_.erase(0, pos);
    return pos > 0;
  }

  SSL* ssl_;
  std::string raw_;     // received, not yet decoded
  std::string body_;    // decoded, not yet returned as lines
  size_t start_ = 0;    // of the next line in body_
  size_t scanned_ = 0;  // body_ holds no '\n' from start_ to this
  State state_ = kSize;
  size_t left_ = 0;  // of the current chunk's data
  std::string error_;
  bool would_block_ = false;  // the last read found nothing yet
};

// The string value after `"key":"` at or after `from`; "" when absent.
std::string_view StringField(std::string_view s, std::string_view key, size_t from = 0) {
  std::string pattern = "\"" + std::string(key) + "\":\"";
  size_t at = s.find(pattern, from);
  if (at == std::string_view::npos) return {};
  size_t start = at + pattern.size();
  size_t end = s.find('"', start);
  return end == std::string_view::npos ? std::string_view{} : s.substr(start, end - start);
}

// The event's top-level "type". The server writes {"object":...,"type":...}
// (keys sorted) and the pod itself has "type" fields (conditions), so look
// at either end of the line, not at the first match.
std::string_view EventType(std::string_view line) {
  if (line.rfind("{\"type\":\"", 0) == 0) return StringField(line, "type");
  size_t at = line.rfind(",\"type\":\"");
  if (at == std::string_view::npos || line.substr(line.size() - 2) != "\"}") return {};
  return StringField(line, "type", at);
}

struct Watcher {
  int fd = -1;
  SSL* ssl = nullptr;
  std::unique_ptr<ChunkedLineReader> reader;
  bool finished = false;  // under the readers' mutex
  int64_t received = 0;
  int64_t last_rv = 0;
  SteadyTime last_event;
  std::string error;
};

// Reads what the watch has for now, checking each event as it comes; true
// once the watch is over (every update seen, or an error). Events are
// checked by string search, not parsed: a JSON parser would cost the
// client, in this same process on the same cores, more CPU than the server
// spends producing the events.
bool ReadSome(Watcher& w, int64_t updates) {
  std::string_view line;
  while (w.received < updates) {
    if (!w.reader->NextLine(&line)) {
      if (w.reader->would_block()) return false;
      w.error =
          "the stream ended after " + std::to_string(w.received) + " events " + w.reader->error();
      return true;
    }
    if (line.empty()) continue;
    std::string_view type = EventType(line);
    int64_t rv = std::atoll(std::string(StringField(line, "resourceVersion")).c_str());
    int64_t seq = std::atoll(std::string(StringField(line, kSeqKey)).c_str());
    if (type != "MODIFIED" || seq != w.received + 1 || rv <= w.last_rv) {
      w.error = "event " + std::to_string(w.received + 1) + ": got type " + std::string(type) +
                " seq " + std::to_string(seq) + " resourceVersion " + std::to_string(rv) +
                " after " + std::to_string(w.last_rv);
      return true;
    }
    w.last_rv = rv;
    ++w.received;
    w.last_event = std::chrono::steady_clock::now();
  }
  return true;
}

// One reader thread: waits on its watches' (non-blocking) sockets until
// each watch is over, or `stop`.
void ReadWatches(std::vector<Watcher*> mine, int64_t updates, std::mutex& mu,
                 std::condition_variable& cv, const std::atomic<bool>& stop) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  size_t left = mine.size();
  auto over = [&](Watcher* w) {
    epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, nullptr);
    --left;
    std::lock_guard<std::mutex> l(mu);
    w->finished = true;
    cv.notify_all();
  };
  for (Watcher* w : mine) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = w;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev) != 0) std::abort();
    // What came with the response head, and what TLS holds, first.
    if (ReadSome(*w, updates)) over(w);
  }
  epoll_event ready[64];
  while (left > 0 && !stop.load()) {
    int n = epoll_wait(ep, ready, 64, 100);
    for (int i = 0; i < n; ++i) {
      auto* w = static_cast<Watcher*>(ready[i].data.ptr);
      if (ReadSome(*w, updates)) over(w);
    }
  }
  close(ep);
}

// A client TLS context that trusts `ca_pem` alone.
SSL_CTX* TrustingOnly(const std::string& ca_pem) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (ctx == nullptr || ca == nullptr ||
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) != 1) {
    X509_free(ca);
    SSL_CTX_free(ctx);
    return nullptr;
  }
  X509_free(ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return ctx;
}

// Connects w to 127.0.0.1:`port` over TLS; false on failure.
bool Connect(Watcher& w, int port, SSL_CTX* ctx) {
  w.fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (w.fd < 0 || connect(w.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
  w.ssl = SSL_new(ctx);
  return w.ssl != nullptr && SSL_set_fd(w.ssl, w.fd) == 1 &&
         SSL_set1_host(w.ssl, "127.0.0.1") == 1 && SSL_connect(w.ssl) == 1;
}

bool SendAll(SSL* ssl, const std::string& data) {
  return SSL_write(ssl, data.data(), static_cast<int>(data.size())) ==
         static_cast<int>(data.size());
}

double Seconds(SteadyTime from, SteadyTime to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

int main(int argc, char** argv) {
  int watchers = argc > 1 ? std::atoi(argv[1]) : 100;
  int64_t updates = argc > 2 ? std::atoll(argv[2]) : 10000;
  if (watchers < 1 || updates < 1) {
    std::fprintf(stderr, "usage: watch_fanout_bench [WATCHERS] [UPDATES]\n");
    return 2;
  }
  ClusterOptions options;  // one node, simulate mode
  auto cluster = FakeCluster::Create(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
    return 1;
  }
  FakeCluster& c = **cluster;
  auto port = c.Serve(0);
  if (!port.ok()) {
    std::fprintf(stderr, "%s\n", port.status().ToString().c_str());
    return 1;
  }

  // A pod that ends at once: once Succeeded, the controllers leave it alone
  // and every later event on it is one of ours.
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "bench"}, {"annotations", {{"sim.portflow.dev/duration", "0s"}}}}},
      {"spec", {{"containers", json::array({{{"name", "c"}, {"image", "x"}}})}}}};
  const std::string pods = "/api/v1/namespaces/default/pods";
  HttpResponse r = c.Handle({"POST", pods, {{"content-type", "application/json"}}, pod.dump()});
  if (r.status != 201) {
    std::fprintf(stderr, "create failed: %s\n", r.body.c_str());
    return 1;
  }
  std::string phase;
  for (int i = 0; i < 1000 && phase != "Succeeded"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r = c.Handle({"GET", pods + "/bench", {}, ""});
    phase = json::parse(r.body).value("status", json::object()).value("phase", "");
  }
  if (phase != "Succeeded") {
    std::fprintf(stderr, "the pod did not succeed: %s\n", r.body.c_str());
    return 1;
  }
  r = c.Handle({"GET", pods, {}, ""});
  std::string rv = json::parse(r.body)["metadata"].value("resourceVersion", "");

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Watcher> ws(static_cast<size_t>(watchers));
  std::string request = "GET " + pods + "?watch=true&resourceVersion=" + rv +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + c.token() +
                        "\r\nConnection: keep-alive\r\n\r\n";
  SSL_CTX* tls = TrustingOnly(c.ca_pem());
  if (tls == nullptr) {
    std::fprintf(stderr, "cannot set up TLS for the clients\n");
    return 1;
  }
  // Every watch answered before the clock starts: connection set-up is not
  // fan-out (and a late watch would replay from rv anyway).
  for (Watcher& w : ws) {
    std::string error;
    timeval limit{30, 0};
    if (!Connect(w, *port, tls) || !SendAll(w.ssl, request) ||
        setsockopt(w.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0 ||
        !(w.reader = std::make_unique<ChunkedLineReader>(w.ssl))->ReadHead(&error) ||
        fcntl(w.fd, F_SETFL, fcntl(w.fd, F_GETFL) | O_NONBLOCK) != 0) {
      std::fprintf(stderr, "cannot open a watch %s\n", error.c_str());
      return 1;
    }
  }
  constexpr int kReaders = 2;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    std::vector<Watcher*> mine;
    for (size_t i = r; i < ws.size(); i += kReaders) mine.push_back(&ws[i]);
    readers.emplace_back(
        [mine, updates, &mu, &cv, &stop] { ReadWatches(mine, updates, mu, cv, stop); });
  }

  SteadyTime start = std::chrono::steady_clock::now();
  for (int64_t i = 1; i <= updates; ++i) {
    json patch = {{"metadata", {{"annotations", {{kSeqKey, std::to_string(i)}}}}}};
    r = c.Handle({"PATCH",
                  pods + "/bench",
                  {{"content-type", "application/merge-patch+json"}},
                  patch.dump()});
    if (r.status != 200) {
      std::fprintf(stderr, "patch %lld failed: %s\n", static_cast<long long>(i), r.body.c_str());
      return 1;
    }
  }
  SteadyTime patched = std::chrono::steady_clock::now();
  {
    // A generous bound, so a lost event fails the run instead of hanging it.
    std::unique_lock<std::mutex> l(mu);
    bool all = cv.wait_for(l, std::chrono::seconds(600), [&] {
      return std::all_of(ws.begin(), ws.end(), [](const Watcher& w) { return w.finished; });
    });
    if (!all) stop = true;
  }
  for (std::thread& t : readers) t.join();

  SteadyTime last = start;
  int failed = 0;
  int64_t delivered = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    const Watcher& w = ws[i];
    delivered += w.received;
    if (w.received > 0) last = std::max(last, w.last_event);
    if (w.received != updates) {
      if (failed++ < 5) {
        std::fprintf(stderr, "watcher %zu: %lld of %lld events; %s\n", i,
                     static_cast<long long>(w.received), static_cast<long long>(updates),
                     w.error.empty() ? "timed out" : w.error.c_str());
      }
    }
    SSL_free(w.ssl);
    close(w.fd);
  }
  SSL_CTX_free(tls);
  c.DropWatches();
  c.StopServing();

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double total = Seconds(start, last);
  std::printf(
      "watchers=%d updates=%lld patch_phase=%.2fs (%.0f updates/s) fan_out=%.2fs "
      "(last event %.2fs after last patch) events=%lld events/s=%.0f peak_rss=%.0fMiB%s\n",
      watchers, static_cast<long long>(updates), Seconds(start, patched),
      updates / Seconds(start, patched), total, std::max(0.0, Seconds(patched, last)),
      static_cast<long long>(delivered), delivered / total, ru.ru_maxrss / 1024.0,
      failed ? " FAILED" : "");
  // The figure counts a patch once every watcher has it: until the last
  // event arrived, or the last patch if the watchers kept up.
  if (!failed) {
    std::printf("figure: watch.patches_per_s %.0f\n",
                updates / std::max(total, Seconds(start, patched)));
  }
  return failed ? 1 : 0;
}

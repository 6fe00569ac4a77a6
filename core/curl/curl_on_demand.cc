// The libcurl functions portflow calls, defined here (portflow links this,
// not libcurl) and forwarded to libcurl.so.4, loaded at the first call.
// Loading libcurl at process start cost about 3 ms here (it needs 25 more
// libraries: TLS, Kerberos, LDAP, ...), more than half of what a `portflow
// status` takes, for the many commands that never use it.
//
// Where the library cannot be loaded, each function fails as libcurl's own
// does when it cannot start (no handle, CURLE_FAILED_INIT), and
// curl_easy_strerror says why: the callers' error paths report it.
#include <curl/curl.h>
#include <dlfcn.h>

#include <cstdarg>
#include <mutex>
#include <string>

namespace {

struct Curl {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_reset) easy_reset = nullptr;
  decltype(&curl_easy_perform) easy_perform = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
  decltype(&curl_free) free = nullptr;
  decltype(&curl_url) url = nullptr;
  decltype(&curl_url_cleanup) url_cleanup = nullptr;
  decltype(&curl_url_set) url_set = nullptr;
  decltype(&curl_url_get) url_get = nullptr;
  bool loaded = false;
  std::string error;  // why it is not loaded
};

template <typename F>
bool Find(void* lib, const char* name, F& f, std::string& error) {
  f = reinterpret_cast<F>(::dlsym(lib, name));
  if (f == nullptr && error.empty()) error = std::string("libcurl has no ") + name;
  return f != nullptr;
}

const Curl& Lib() {
  static Curl c;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = ::dlerror();
      c.error = std::string("cannot load libcurl: ") + (why ? why : "libcurl.so.4 not found");
      return;
    }
    std::string error;
    bool ok = Find(lib, "curl_global_init", c.global_init, error) &
              Find(lib, "curl_easy_init", c.easy_init, error) &
              Find(lib, "curl_easy_cleanup", c.easy_cleanup, error) &
              Find(lib, "curl_easy_reset", c.easy_reset, error) &
              Find(lib, "curl_easy_perform", c.easy_perform, error) &
              Find(lib, "curl_easy_setopt", c.easy_setopt, error) &
              Find(lib, "curl_easy_getinfo", c.easy_getinfo, error) &
              Find(lib, "curl_easy_strerror", c.easy_strerror, error) &
              Find(lib, "curl_slist_append", c.slist_append, error) &
              Find(lib, "curl_slist_free_all", c.slist_free_all, error) &
              Find(lib, "curl_free", c.free, error) & Find(lib, "curl_url", c.url, error) &
              Find(lib, "curl_url_cleanup", c.url_cleanup, error) &
              Find(lib, "curl_url_set", c.url_set, error) &
              Find(lib, "curl_url_get", c.url_get, error);
    c.loaded = ok;
    if (!ok) c.error = "cannot use libcurl.so.4: " + error;
  });
  return c;
}

}  // namespace

extern "C" {

CURLcode curl_global_init(long flags) {
  const Curl& c = Lib();
  return c.loaded ? c.global_init(flags) : CURLE_FAILED_INIT;
}

CURL* curl_easy_init(void) {
  const Curl& c = Lib();
  return c.loaded ? c.easy_init() : nullptr;
}

void curl_easy_cleanup(CURL* h) {
  if (h != nullptr) Lib().easy_cleanup(h);  // a handle: it is loaded
}

void curl_easy_reset(CURL* h) {
  if (h != nullptr) Lib().easy_reset(h);
}

CURLcode curl_easy_perform(CURL* h) {
  const Curl& c = Lib();
  return c.loaded ? c.easy_perform(h) : CURLE_FAILED_INIT;
}

// One argument after the option, whose type the option's number tells
// (CURLOPTTYPE_*), read as libcurl itself reads it.
CURLcode curl_easy_setopt(CURL* h, CURLoption option, ...) {
  const Curl& c = Lib();
  if (!c.loaded) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, option);
  CURLcode rc;
  if (option < CURLOPTTYPE_OBJECTPOINT) {
    rc = c.easy_setopt(h, option, va_arg(ap, long));
  } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
    rc = c.easy_setopt(h, option, va_arg(ap, void*));
  } else if (option < CURLOPTTYPE_OFF_T) {
    rc = c.easy_setopt(h, option, va_arg(ap, void (*)(void)));
  } else if (option < CURLOPTTYPE_BLOB) {
    rc = c.easy_setopt(h, option, va_arg(ap, curl_off_t));
  } else {
    rc = c.easy_setopt(h, option, va_arg(ap, void*));
  }
  va_end(ap);
  return rc;
}

// Every CURLINFO takes a pointer to where the answer goes.
CURLcode curl_easy_getinfo(CURL* h, CURLINFO info, ...) {
  const Curl& c = Lib();
  if (!c.loaded) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, info);
  CURLcode rc = c.easy_getinfo(h, info, va_arg(ap, void*));
  va_end(ap);
  return rc;
}

const char* curl_easy_strerror(CURLcode code) {
  const Curl& c = Lib();
  return c.loaded ? c.easy_strerror(code) : c.error.c_str();
}

curl_slist* curl_slist_append(curl_slist* list, const char* s) {
  const Curl& c = Lib();
  return c.loaded ? c.slist_append(list, s) : nullptr;
}

void curl_slist_free_all(curl_slist* list) {
  if (list != nullptr) Lib().slist_free_all(list);
}

void curl_free(void* p) {
  if (p != nullptr) Lib().free(p);
}

CURLU* curl_url(void) {
  const Curl& c = Lib();
  return c.loaded ? c.url() : nullptr;
}

void curl_url_cleanup(CURLU* u) {
  if (u != nullptr) Lib().url_cleanup(u);
}

CURLUcode curl_url_set(CURLU* u, CURLUPart part, const char* content, unsigned int flags) {
  const Curl& c = Lib();
  return c.loaded ? c.url_set(u, part, content, flags) : CURLUE_OUT_OF_MEMORY;
}

CURLUcode curl_url_get(CURLU* u, CURLUPart part, char** out, unsigned int flags) {
  const Curl& c = Lib();
  return c.loaded ? c.url_get(u, part, out, flags) : CURLUE_OUT_OF_MEMORY;
}

}  // extern "C"

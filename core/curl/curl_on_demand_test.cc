// libcurl is loaded at the first call of one of its functions, not before,
// and every kind of argument reaches it (curl_on_demand.cc forwards them).
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace {

bool Mapped(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::stringstream ss;
  ss << maps.rdbuf();
  return ss.str().find(name) != std::string::npos;
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

TEST(CurlOnDemand, LibcurlIsLoadedAtItsFirstUse) {
  EXPECT_FALSE(Mapped("libcurl.so")) << "loaded before any call";
  ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
  EXPECT_TRUE(Mapped("libcurl.so"));
  CURL* h = curl_easy_init();
  ASSERT_NE(h, nullptr);
  // A pointer, a long, a function and a curl_off_t: each as libcurl reads it
  // (a wrong one is refused or breaks the transfer below).
  char error[CURL_ERROR_SIZE] = "";
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_URL, "http://127.0.0.1:1/"), CURLE_OK);
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error), CURLE_OK);
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L), CURLE_OK);
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Discard), CURLE_OK);
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, curl_off_t{1} << 40), CURLE_OK);
  curl_slist* headers = curl_slist_append(nullptr, "X-Test: 1");
  ASSERT_NE(headers, nullptr);
  EXPECT_EQ(curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers), CURLE_OK);
  CURLcode rc = curl_easy_perform(h);  // nothing listens on port 1
  EXPECT_EQ(rc, CURLE_COULDNT_CONNECT) << error;
  EXPECT_STRNE(curl_easy_strerror(rc), "");
  EXPECT_STRNE(error, "");
  long status = -1;
  EXPECT_EQ(curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status), CURLE_OK);
  EXPECT_EQ(status, 0);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);

  CURLU* u = curl_url();
  ASSERT_NE(u, nullptr);
  ASSERT_EQ(curl_url_set(u, CURLUPART_URL, "https://example.test:8443/x", 0), CURLUE_OK);
  char* port = nullptr;
  ASSERT_EQ(curl_url_get(u, CURLUPART_PORT, &port, 0), CURLUE_OK);
  EXPECT_STREQ(port, "8443");
  curl_free(port);
  curl_url_cleanup(u);
}

}  // namespace

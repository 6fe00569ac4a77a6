// The fake cloud's S3, path-style (/BUCKET/KEY), in memory, in S3's REST-XML
// wire shapes so that boto3, the AWS CLI and portflow's own client work
// against it unchanged: buckets (create, head, list, delete), objects (put
// with Content-MD5 and x-amz-checksum-* checked, get with ranges, head,
// list v2 with prefix, delimiter, pages and url encoding, delete, delete
// many) and multipart uploads (create, upload part, complete, abort). The
// signature is checked before a request gets here (FakeCloud::Handle).
// With a folder, its buckets and objects are also kept there, so that a
// rehearsal's outputs outlive the process that served them: each object is
// one file (a JSON line of its metadata, then its bytes), replaced whole.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "k8s_backend/fake_cluster/apiserver/http_types.h"

namespace portflow::fake_cloud {

class FakeS3 {
 public:
  // `dir`: where buckets and objects are kept; "" for memory only.
  FakeS3(Clock& clock, std::string region, std::string dir = "")
      : clock_(clock), region_(std::move(region)), dir_(std::move(dir)) {}

  // Reads what an earlier FakeS3 kept in its folder (none without one).
  Status Load();

  // One request (thread-safe). `path` is as sent (percent-encoded), without
  // the query.
  fake::HttpResponse Handle(const fake::HttpRequest& request, const std::string& path,
                            const std::string& query);

  // An error in S3's shape: XML with Code, Message and RequestId (no body
  // for HEAD, whose client reads the status alone). Thread-safe.
  fake::HttpResponse Error(int status, const std::string& code, const std::string& message,
                           const std::string& method = "GET");

 private:
  struct Object {
    std::string data;
    std::string etag;  // with its quotes, as S3 gives it
    TimePoint modified{};
    std::string content_type;
    std::map<std::string, std::string> headers;  // x-amz-meta-*, x-amz-checksum-*
  };
  struct Bucket {
    TimePoint created{};
    std::map<std::string, Object> objects;
  };
  struct Upload {
    std::string bucket, key;
    Object head;                  // its type and metadata, from the create
    std::map<int, Object> parts;  // by part number
  };
  using Query = std::map<std::string, std::string>;

  fake::HttpResponse ListBuckets();
  fake::HttpResponse OnBucket(const fake::HttpRequest& request, const std::string& bucket,
                              const Query& query);
  fake::HttpResponse ListObjects(const std::string& bucket, const Query& query);
  fake::HttpResponse DeleteObjects(const std::string& bucket, const std::string& body);
  fake::HttpResponse OnObject(const fake::HttpRequest& request, const std::string& bucket,
                              const std::string& key, const Query& query);
  fake::HttpResponse GetObject(const fake::HttpRequest& request, const Object& object);
  fake::HttpResponse OnUpload(const fake::HttpRequest& request, const std::string& bucket,
                              const std::string& key, const Query& query);
  // The object a PUT makes, or the error that refuses it (a digest or a
  // checksum that does not match the bytes).
  fake::HttpResponse Store(const fake::HttpRequest& request, Object* object);
  // Before a change in memory: writes the bucket, or the object, as it will
  // be into the folder (removes it for null); the error a client gets when
  // that fails, nullopt when it did not or there is no folder.
  std::optional<fake::HttpResponse> Keep(const std::string& bucket, const Bucket* b,
                                         const std::string& method);
  std::optional<fake::HttpResponse> Keep(const std::string& bucket, const std::string& key,
                                         const Object* o, const std::string& method);

  Clock& clock_;
  const std::string region_;
  const std::string dir_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
  std::map<std::string, Upload> uploads_;  // by upload id
  std::atomic<int64_t> next_id_{1};        // upload ids and request ids
};

}  // namespace portflow::fake_cloud

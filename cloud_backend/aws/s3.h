// The S3 calls portflow makes to keep a run's artifacts in a bucket
// (REST-XML, path-style: ENDPOINT/BUCKET/KEY, signing name "s3"): buckets
// made, objects put, got, listed and deleted, and files moved in parts so
// that neither side holds a large file in memory. Every upload carries its
// Content-MD5, so a body damaged on the way is refused (BadDigest).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cloud_backend/aws/aws_client.h"

namespace portflow::aws {

struct S3Object {
  std::string key;
  int64_t size = 0;
  std::string etag;  // without its quotes
};

class S3 {
 public:
  // S3's smallest part but the last; uploads and downloads move 8 MiB at a
  // time unless told otherwise.
  static constexpr int64_t kMinPartSize = 5 << 20;
  static constexpr int64_t kPartSize = 8 << 20;

  explicit S3(Client& client) : client_(client) {}

  // OK when the bucket is already this account's.
  Status CreateBucket(const std::string& bucket);
  Status Put(const std::string& bucket, const std::string& key, const std::string& data);
  // NotFound (NoSuchKey, NoSuchBucket) when it is not there.
  Result<std::string> Get(const std::string& bucket, const std::string& key);
  Result<S3Object> Head(const std::string& bucket, const std::string& key);
  // Every object whose key begins with `prefix`, in key order (ListObjectsV2,
  // page after page of up to `page_size` keys).
  Result<std::vector<S3Object>> List(const std::string& bucket, const std::string& prefix,
                                     int page_size = 1000);
  // OK when it was not there, as S3 answers.
  Status Delete(const std::string& bucket, const std::string& key);

  // The file at `path` as `key`: one PutObject when it fits in a part, else
  // a multipart upload read from the file a part at a time (at least
  // kMinPartSize), aborted when a part fails so that no parts are left
  // behind. InvalidArgument when the file cannot be read.
  Status Upload(const std::string& bucket, const std::string& key, const std::string& path,
                int64_t part_size = kPartSize);
  // The object to the file at `path`, in ranged GETs of `part_size`, each
  // checked to be of the object first seen (If-Match its ETag); written to
  // PATH.partial and renamed, so that `path` is whole or not there.
  Status Download(const std::string& bucket, const std::string& key, const std::string& path,
                  int64_t part_size = kPartSize);

 private:
  Result<Response> Call(const std::string& method, const std::string& bucket,
                        const std::string& key, const std::string& query = "",
                        std::vector<std::pair<std::string, std::string>> headers = {},
                        std::string body = "");

  Client& client_;
};

}  // namespace portflow::aws

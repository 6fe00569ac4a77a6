#include "cloud_backend/fake_cloud/fake_s3.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "cloud_backend/aws/aws_client.h"
#include "cloud_backend/aws/xml.h"
#include "core/base64.h"
#include "core/encoding.h"

namespace portflow::fake_cloud {
namespace {

using aws::XmlEscape;
using fake::HttpResponse;

constexpr int kMaxKeys = 1000;
constexpr size_t kMinPartSize = 5 << 20;  // S3's, for every part but the last
constexpr int kMaxParts = 10000;
const char* kXmlHead = R"(<?xml version="1.0" encoding="UTF-8"?>)";
const char* kNs = R"( xmlns="http://s3.amazonaws.com/doc/2006-03-01/")";

std::string Header(const fake::HttpRequest& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

// "Sat, 05 Dec 2026 09:00:00 GMT", as Last-Modified is written.
std::string HttpDate(TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string Digest(const EVP_MD* md, const std::string& data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d, &n, md, nullptr);
  return std::string(reinterpret_cast<const char*>(d), n);
}

// CRC-32 (reflected) with `poly`: 0xEDB88320 is S3's CRC32, 0x82F63B78 its
// CRC32C. Big-endian bytes, as the x-amz-checksum-* headers carry them.
// A byte at a time from a table: objects run to many MiB.
std::string Crc(uint32_t poly, const std::string& data) {
  std::array<uint32_t, 256> table;
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t v = b;
    for (int k = 0; k < 8; ++k) v = (v >> 1) ^ (poly & (0u - (v & 1u)));
    table[b] = v;
  }
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) crc = (crc >> 8) ^ table[(crc ^ c) & 0xFF];
  crc = ~crc;
  return {static_cast<char>(crc >> 24), static_cast<char>(crc >> 16), static_cast<char>(crc >> 8),
          static_cast<char>(crc)};
}

// The checksum S3 names `algorithm` (crc32, crc32c, sha1, sha256) of
// `data`, base64; nullopt for one the fake cloud does not compute.
std::optional<std::string> Checksum(const std::string& algorithm, const std::string& data) {
  if (algorithm == "crc32") return Base64Encode(Crc(0xEDB88320u, data));
  if (algorithm == "crc32c") return Base64Encode(Crc(0x82F63B78u, data));
  if (algorithm == "sha1") return Base64Encode(Digest(EVP_sha1(), data));
  if (algorithm == "sha256") return Base64Encode(Digest(EVP_sha256(), data));
  return std::nullopt;
}

// S3's rules for a bucket's name: 3 to 63 lower-case letters, digits, dots
// and hyphens, beginning and ending with a letter or digit.
bool ValidBucketName(const std::string& name) {
  if (name.size() < 3 || name.size() > 63) return false;
  auto edge = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || std::islower(c); };
  if (!edge(name.front()) || !edge(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return edge(c) || c == '.' || c == '-'; });
}

HttpResponse Xml(int status, const std::string& body) {
  return {status, "application/xml", kXmlHead + body, nullptr};
}

namespace fs = std::filesystem;
using nlohmann::json;

// In a kept bucket's folder: its own metadata, and each object by the
// SHA-256 of its key (keys run to 1024 bytes of anything).
constexpr const char* kBucketFile = ".bucket";
std::string ObjectFile(const std::string& key) { return HexEncode(Digest(EVP_sha256(), key)); }

// `data` into `path` whole or not at all: a crash mid-write leaves what was
// there.
Status WriteWhole(const fs::path& path, const std::string& data) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    if (!out.flush()) return Internal("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Internal("cannot write " + path.string() + ": " + ec.message());
  return OkStatus();
}

}  // namespace

Status FakeS3::Load() {
  if (dir_.empty()) return OkStatus();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Internal("cannot make the fake S3's folder " + dir_ + ": " + ec.message());
  std::lock_guard<std::mutex> l(mu_);
  for (const fs::directory_entry& b : fs::directory_iterator(dir_, ec)) {
    if (!b.is_directory() || !fs::exists(b.path() / kBucketFile)) continue;
    Bucket& bucket = buckets_[b.path().filename().string()];
    for (const fs::directory_entry& f : fs::directory_iterator(b.path(), ec)) {
      std::string name = f.path().filename().string();
      if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
        fs::remove(f.path(), ec);  // a write a crash cut short
        continue;
      }
      std::ifstream in(f.path(), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      std::string all = text.str();
      size_t eol = all.find('\n');
      json meta = json::parse(all.substr(0, eol), nullptr, false);
      if (!in || eol == std::string::npos || !meta.is_object())
        return FailedPrecondition("the fake S3's file " + f.path().string() +
                                  " is not one it wrote (a JSON line, then the bytes)");
      if (name == kBucketFile) {
        bucket.created = FromUnixMillis(meta.value("created", int64_t{0}));
        continue;
      }
      Object& o = bucket.objects[meta.value("key", "")];
      o.data = all.substr(eol + 1);
      o.etag = meta.value("etag", "");
      o.modified = FromUnixMillis(meta.value("modified", int64_t{0}));
      o.content_type = meta.value("contentType", "");
      o.headers = meta.value("headers", std::map<std::string, std::string>{});
    }
  }
  if (ec) return Internal("cannot read the fake S3's folder " + dir_ + ": " + ec.message());
  return OkStatus();
}

std::optional<HttpResponse> FakeS3::Keep(const std::string& bucket, const Bucket* b,
                                         const std::string& method) {
  if (dir_.empty()) return std::nullopt;
  fs::path folder = fs::path(dir_) / bucket;
  std::error_code ec;
  Status kept = OkStatus();
  if (!b) {
    fs::remove_all(folder, ec);
    if (ec) kept = Internal("cannot remove " + folder.string() + ": " + ec.message());
  } else if (fs::create_directories(folder, ec); ec) {
    kept = Internal("cannot make " + folder.string() + ": " + ec.message());
  } else {
    kept =
        WriteWhole(folder / kBucketFile, json{{"created", ToUnixMillis(b->created)}}.dump() + "\n");
  }
  if (kept.ok()) return std::nullopt;
  return Error(500, "InternalError", "the fake S3 cannot keep it: " + kept.message(), method);
}

std::optional<HttpResponse> FakeS3::Keep(const std::string& bucket, const std::string& key,
                                         const Object* o, const std::string& method) {
  if (dir_.empty()) return std::nullopt;
  fs::path path = fs::path(dir_) / bucket / ObjectFile(key);
  Status kept = OkStatus();
  if (o) {
    json meta = {{"key", key},
                 {"etag", o->etag},
                 {"modified", ToUnixMillis(o->modified)},
                 {"contentType", o->content_type},
                 {"headers", o->headers}};
    kept = WriteWhole(path, meta.dump() + "\n" + o->data);
  } else if (std::error_code ec; fs::remove(path, ec), ec) {
    kept = Internal("cannot remove " + path.string() + ": " + ec.message());
  }
  if (kept.ok()) return std::nullopt;
  return Error(500, "InternalError", "the fake S3 cannot keep it: " + kept.message(), method);
}

HttpResponse FakeS3::Error(int status, const std::string& code, const std::string& message,
                           const std::string& method) {
  HttpResponse r = Xml(status, "<Error><Code>" + code + "</Code><Message>" + XmlEscape(message) +
                                   "</Message><RequestId>" + std::to_string(next_id_++) +
                                   "</RequestId></Error>");
  if (method == "HEAD") r.body.clear();
  return r;
}

HttpResponse FakeS3::Handle(const fake::HttpRequest& request, const std::string& path,
                            const std::string& query) {
  std::lock_guard<std::mutex> l(mu_);
  if (Header(request, "x-amz-content-sha256").rfind("STREAMING-", 0) == 0)
    return Error(501, "NotImplemented",
                 "the fake cloud does not take aws-chunked uploads; send the payload whole",
                 request.method);
  Query q = ParseQuery(query);
  // "/bucket/some/key": the bucket up to the first '/', the key all after.
  std::string rest = path.size() > 1 ? path.substr(1) : "";
  size_t slash = rest.find('/');
  std::string bucket = PercentDecode(rest.substr(0, slash), false);
  std::string key = slash == std::string::npos ? "" : PercentDecode(rest.substr(slash + 1), false);
  if (bucket.empty()) {
    if (request.method == "GET") return ListBuckets();
    return Error(405, "MethodNotAllowed", "the service takes GET only", request.method);
  }
  if (key.empty()) return OnBucket(request, bucket, q);
  if (key.size() > 1024) return Error(400, "KeyTooLongError", "Your key is too long");
  if (!buckets_.count(bucket))
    return Error(404, "NoSuchBucket", "The specified bucket does not exist", request.method);
  if (q.count("uploads") || q.count("uploadId")) return OnUpload(request, bucket, key, q);
  return OnObject(request, bucket, key, q);
}

HttpResponse FakeS3::ListBuckets() {
  std::string out = "<ListAllMyBucketsResult" + std::string(kNs) +
                    "><Owner><ID>portflow</ID><DisplayName>portflow</DisplayName></Owner><Buckets>";
  for (const auto& [name, b] : buckets_)
    out += "<Bucket><Name>" + name + "</Name><CreationDate>" + FormatTime(b.created) +
           "</CreationDate></Bucket>";
  return Xml(200, out + "</Buckets></ListAllMyBucketsResult>");
}

HttpResponse FakeS3::OnBucket(const fake::HttpRequest& request, const std::string& bucket,
                              const Query& query) {
  const std::string& m = request.method;
  auto it = buckets_.find(bucket);
  if (m == "PUT") {
    if (!ValidBucketName(bucket))
      return Error(400, "InvalidBucketName", "The specified bucket is not valid.");
    if (it != buckets_.end())
      return Error(409, "BucketAlreadyOwnedByYou",
                   "Your previous request to create the named bucket succeeded and you already "
                   "own it.");
    std::string where = aws::XmlText(request.body, "LocationConstraint");
    if (where != (region_ == "us-east-1" ? "" : region_))
      return Error(400, "IllegalLocationConstraintException",
                   "The " + (where.empty() ? "unspecified" : "'" + where + "'") +
                       " location constraint is incompatible for the region specific endpoint "
                       "this request was sent to.");
    Bucket made;
    made.created = clock_.Now();
    if (auto failed = Keep(bucket, &made, m)) return *failed;
    buckets_[bucket] = std::move(made);
    HttpResponse r{200, "application/xml", "", nullptr};
    r.headers["Location"] = "/" + bucket;
    return r;
  }
  if (it == buckets_.end())
    return Error(404, "NoSuchBucket", "The specified bucket does not exist", m);
  if (m == "HEAD") {
    HttpResponse r{200, "application/xml", "", nullptr};
    r.headers["x-amz-bucket-region"] = region_;
    return r;
  }
  if (m == "GET" && query.count("location"))
    return Xml(200, "<LocationConstraint" + std::string(kNs) + ">" +
                        (region_ == "us-east-1" ? "" : region_) + "</LocationConstraint>");
  if (m == "GET") return ListObjects(bucket, query);
  if (m == "POST" && query.count("delete")) return DeleteObjects(bucket, request.body);
  if (m == "DELETE") {
    if (!it->second.objects.empty())
      return Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty");
    if (auto failed = Keep(bucket, nullptr, m)) return *failed;
    buckets_.erase(it);
    return {204, "application/xml", "", nullptr};
  }
  return Error(405, "MethodNotAllowed",
               "The specified method is not allowed against this resource.", m);
}

HttpResponse FakeS3::ListObjects(const std::string& bucket, const Query& query) {
  auto arg = [&](const char* k) {
    auto it = query.find(k);
    return it == query.end() ? std::string() : it->second;
  };
  if (arg("list-type") != "2")
    return Error(400, "InvalidArgument", "the fake cloud lists objects with list-type=2 only");
  std::string prefix = arg("prefix"), delimiter = arg("delimiter"),
              start_after = arg("start-after");
  bool url = arg("encoding-type") == "url";
  if (!arg("encoding-type").empty() && !url)
    return Error(400, "InvalidArgument", "Invalid Encoding Method specified in Request");
  int max = kMaxKeys;
  if (std::string text = arg("max-keys"); !text.empty()) {
    char* end = nullptr;
    long v = std::strtol(text.c_str(), &end, 10);
    if (*end != '\0' || v < 0)
      return Error(400, "InvalidArgument",
                   "Provided max-keys not an integer or within integer range");
    max = static_cast<int>(std::min<long>(v, kMaxKeys));
  }
  // The token is the last key or common prefix of the page before: "k" or
  // "p" and the name, base64.
  std::string after = start_after;
  bool after_prefix = false;
  std::string token = arg("continuation-token");
  if (!token.empty()) {
    std::optional<std::string> t = Base64Decode(token);
    if (!t || t->empty() || ((*t)[0] != 'k' && (*t)[0] != 'p'))
      return Error(400, "InvalidArgument", "The continuation token provided is incorrect");
    after = t->substr(1);
    after_prefix = (*t)[0] == 'p';
  }
  auto encode = [&](const std::string& s) { return XmlEscape(url ? PercentEncode(s, true) : s); };
  const std::map<std::string, Object>& objects = buckets_[bucket].objects;
  std::string contents, prefixes, last;
  int count = 0;
  bool truncated = false;
  auto it = objects.upper_bound(after);
  while (it != objects.end()) {
    const std::string& key = it->first;
    if (after_prefix && key.rfind(after, 0) == 0) {
      ++it;
      continue;
    }
    if (key.rfind(prefix, 0) != 0) {
      if (key > prefix) break;  // sorted: no later key has the prefix
      ++it;
      continue;
    }
    if (count == max) {
      truncated = true;
      break;
    }
    size_t cut = delimiter.empty() ? std::string::npos : key.find(delimiter, prefix.size());
    if (cut != std::string::npos) {
      std::string common = key.substr(0, cut + delimiter.size());
      prefixes += "<CommonPrefixes><Prefix>" + encode(common) + "</Prefix></CommonPrefixes>";
      last = "p" + common;
      ++count;
      while (it != objects.end() && it->first.rfind(common, 0) == 0) ++it;
      continue;
    }
    const Object& o = it->second;
    contents += "<Contents><Key>" + encode(key) + "</Key><LastModified>" + FormatTime(o.modified) +
                "</LastModified><ETag>" + XmlEscape(o.etag) + "</ETag><Size>" +
                std::to_string(o.data.size()) + "</Size><StorageClass>STANDARD</StorageClass>" +
                "</Contents>";
    last = "k" + key;
    ++count;
    ++it;
  }
  std::string out = "<ListBucketResult" + std::string(kNs) + "><Name>" + bucket +
                    "</Name><Prefix>" + encode(prefix) + "</Prefix><KeyCount>" +
                    std::to_string(count) + "</KeyCount><MaxKeys>" + std::to_string(max) +
                    "</MaxKeys>";
  if (!delimiter.empty()) out += "<Delimiter>" + encode(delimiter) + "</Delimiter>";
  if (url) out += "<EncodingType>url</EncodingType>";
  out += std::string("<IsTruncated>") + (truncated ? "true" : "false") + "</IsTruncated>";
  if (!token.empty()) out += "<ContinuationToken>" + XmlEscape(token) + "</ContinuationToken>";
  if (truncated) out += "<NextContinuationToken>" + Base64Encode(last) + "</NextContinuationToken>";
  if (!start_after.empty()) out += "<StartAfter>" + encode(start_after) + "</StartAfter>";
  return Xml(200, out + contents + prefixes + "</ListBucketResult>");
}

HttpResponse FakeS3::DeleteObjects(const std::string& bucket, const std::string& body) {
  std::vector<std::string> objects = aws::XmlElements(body, "Object");
  if (objects.empty() || objects.size() > kMaxKeys)
    return Error(400, "MalformedXML",
                 "The XML you provided was not well-formed or did not validate against our "
                 "published schema");
  bool quiet = aws::XmlText(body, "Quiet") == "true";
  std::string out = "<DeleteResult" + std::string(kNs) + ">";
  for (const std::string& o : objects) {
    std::string key = aws::XmlText(o, "Key");
    if (auto failed = Keep(bucket, key, nullptr, "POST")) return *failed;
    buckets_[bucket].objects.erase(key);  // a key that is not there is deleted too
    if (!quiet) out += "<Deleted><Key>" + XmlEscape(key) + "</Key></Deleted>";
  }
  return Xml(200, out + "</DeleteResult>");
}

HttpResponse FakeS3::Store(const fake::HttpRequest& request, Object* object) {
  object->data = request.body;
  std::string md5 = Digest(EVP_md5(), request.body);
  std::string sent_md5 = Header(request, "content-md5");
  if (!sent_md5.empty() && Base64Decode(sent_md5) != md5)
    return Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
  object->etag = "\"" + HexEncode(md5) + "\"";
  object->modified = clock_.Now();
  for (const auto& [name, value] : request.headers) {
    if (name.rfind("x-amz-checksum-", 0) != 0 || name == "x-amz-checksum-type" ||
        name == "x-amz-checksum-algorithm")
      continue;
    std::string algorithm = name.substr(15);
    std::optional<std::string> sum = Checksum(algorithm, request.body);
    if (!sum)
      return Error(400, "InvalidRequest",
                   "the fake cloud does not compute x-amz-checksum-" + algorithm);
    if (*sum != value)
      return Error(400, "BadDigest",
                   "The " + algorithm + " you specified did not match the calculated checksum.");
    object->headers[name] = value;
  }
  return {200, "application/xml", "", nullptr};
}

HttpResponse FakeS3::OnObject(const fake::HttpRequest& request, const std::string& bucket,
                              const std::string& key, const Query& query) {
  (void)query;
  const std::string& m = request.method;
  std::map<std::string, Object>& objects = buckets_[bucket].objects;
  if (m == "PUT") {
    if (!Header(request, "x-amz-copy-source").empty())
      return Error(501, "NotImplemented", "the fake cloud does not copy objects");
    Object o;
    o.content_type = Header(request, "content-type");
    for (const auto& [name, value] : request.headers)
      if (name.rfind("x-amz-meta-", 0) == 0) o.headers[name] = value;
    HttpResponse r = Store(request, &o);
    if (r.status != 200) return r;
    r.headers["ETag"] = o.etag;
    for (const auto& [name, value] : o.headers)
      if (name.rfind("x-amz-checksum-", 0) == 0) r.headers[name] = value;
    if (auto failed = Keep(bucket, key, &o, m)) return *failed;
    objects[key] = std::move(o);
    return r;
  }
  if (m == "DELETE") {
    if (auto failed = Keep(bucket, key, nullptr, m)) return *failed;
    objects.erase(key);  // S3 answers the same whether it was there or not
    return {204, "application/xml", "", nullptr};
  }
  if (m != "GET" && m != "HEAD")
    return Error(405, "MethodNotAllowed",
                 "The specified method is not allowed against this resource.", m);
  auto it = objects.find(key);
  if (it == objects.end()) return Error(404, "NoSuchKey", "The specified key does not exist.", m);
  return GetObject(request, it->second);
}

HttpResponse FakeS3::GetObject(const fake::HttpRequest& request, const Object& o) {
  std::string if_match = Header(request, "if-match");
  if (!if_match.empty() && if_match != "*" && if_match != o.etag)
    return Error(412, "PreconditionFailed",
                 "At least one of the pre-conditions you specified did not hold", request.method);
  HttpResponse r{200, o.content_type.empty() ? "binary/octet-stream" : o.content_type, o.data,
                 nullptr};
  r.headers["ETag"] = o.etag;
  r.headers["Last-Modified"] = HttpDate(o.modified);
  r.headers["Accept-Ranges"] = "bytes";
  bool checksums = Header(request, "x-amz-checksum-mode") == "ENABLED";
  for (const auto& [name, value] : o.headers)
    if (name.rfind("x-amz-meta-", 0) == 0 || checksums) r.headers[name] = value;
  std::string range = Header(request, "range");
  if (range.empty()) return r;
  // bytes=A-B, bytes=A- or bytes=-N: one range, as S3 serves.
  const int64_t size = static_cast<int64_t>(o.data.size());
  int64_t first = -1, last = size - 1;
  if (range.rfind("bytes=", 0) == 0 && range.find(',') == std::string::npos) {
    std::string spec = range.substr(6);
    size_t dash = spec.find('-');
    try {
      if (dash == 0) {
        first = std::max<int64_t>(0, size - static_cast<int64_t>(std::stoll(spec.substr(1))));
      } else if (dash != std::string::npos) {
        first = std::stoll(spec.substr(0, dash));
        if (dash + 1 < spec.size())
          last = std::min<int64_t>(last, std::stoll(spec.substr(dash + 1)));
      }
    } catch (const std::exception&) {
      first = -1;
    }
  }
  if (first < 0) return r;  // S3 ignores a range it cannot read
  if (first >= size || last < first) {
    HttpResponse bad =
        Error(416, "InvalidRange", "The requested range is not satisfiable", request.method);
    bad.headers["Content-Range"] = "bytes */" + std::to_string(size);
    return bad;
  }
  r.status = 206;
  r.body = o.data.substr(first, last - first + 1);
  r.headers["Content-Range"] =
      "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size);
  for (auto h = r.headers.begin(); h != r.headers.end();)  // a part's checksum is not the object's
    h = h->first.rfind("x-amz-checksum-", 0) == 0 ? r.headers.erase(h) : std::next(h);
  return r;
}

HttpResponse FakeS3::OnUpload(const fake::HttpRequest& request, const std::string& bucket,
                              const std::string& key, const Query& query) {
  const std::string& m = request.method;
  if (m == "POST" && query.count("uploads")) {
    std::string id = "upload-" + std::to_string(next_id_++);
    Upload& u = uploads_[id];
    u.bucket = bucket;
    u.key = key;
    u.head.content_type = Header(request, "content-type");
    for (const auto& [name, value] : request.headers)
      if (name.rfind("x-amz-meta-", 0) == 0) u.head.headers[name] = value;
    return Xml(200, "<InitiateMultipartUploadResult" + std::string(kNs) + "><Bucket>" + bucket +
                        "</Bucket><Key>" + XmlEscape(key) + "</Key><UploadId>" + id +
                        "</UploadId></InitiateMultipartUploadResult>");
  }
  auto it = uploads_.find(query.count("uploadId") ? query.at("uploadId") : "");
  if (it == uploads_.end() || it->second.bucket != bucket || it->second.key != key)
    return Error(404, "NoSuchUpload",
                 "The specified upload does not exist. The upload ID may be invalid, or the upload "
                 "may have been aborted or completed.",
                 m);
  Upload& u = it->second;
  if (m == "PUT") {
    int number = 0;
    try {
      number = query.count("partNumber") ? std::stoi(query.at("partNumber")) : 0;
    } catch (const std::exception&) {
    }
    if (number < 1 || number > kMaxParts)
      return Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000");
    Object part;
    HttpResponse r = Store(request, &part);
    if (r.status != 200) return r;
    r.headers["ETag"] = part.etag;
    for (const auto& [name, value] : part.headers) r.headers[name] = value;
    u.parts[number] = std::move(part);
    return r;
  }
  if (m == "DELETE") {
    uploads_.erase(it);
    return {204, "application/xml", "", nullptr};
  }
  if (m != "POST")
    return Error(405, "MethodNotAllowed",
                 "The specified method is not allowed against this resource.", m);
  // CompleteMultipartUpload: the parts named, in ascending order, each
  // uploaded with that ETag, all but the last at least 5 MiB.
  std::vector<std::string> named = aws::XmlElements(request.body, "Part");
  if (named.empty())
    return Error(400, "MalformedXML",
                 "The XML you provided was not well-formed or did not validate against our "
                 "published schema");
  std::vector<int> numbers;
  for (const std::string& part : named) {
    numbers.push_back(std::atoi(aws::XmlText(part, "PartNumber").c_str()));
    if (numbers.size() > 1 && numbers.back() <= numbers[numbers.size() - 2])
      return Error(400, "InvalidPartOrder",
                   "The list of parts was not in ascending order. Parts must be ordered by part "
                   "number.");
  }
  Object whole = u.head;
  std::string md5s;
  for (size_t i = 0; i < named.size(); ++i) {
    auto part = u.parts.find(numbers[i]);
    std::string etag = aws::XmlText(named[i], "ETag");
    if (etag.empty() || etag.front() != '"') etag = "\"" + etag + "\"";
    if (part == u.parts.end() || part->second.etag != etag)
      return Error(400, "InvalidPart",
                   "One or more of the specified parts could not be found. The part may not have "
                   "been uploaded, or the specified entity tag may not match the part's entity "
                   "tag.");
    if (i + 1 < named.size() && part->second.data.size() < kMinPartSize)
      return Error(400, "EntityTooSmall",
                   "Your proposed upload is smaller than the minimum allowed object size.");
    whole.data += part->second.data;
    md5s += *HexDecode(part->second.etag.substr(1, 32));
  }
  // S3's ETag of a multipart object: the MD5 of its parts' MD5s, "-N".
  whole.etag =
      "\"" + HexEncode(Digest(EVP_md5(), md5s)) + "-" + std::to_string(named.size()) + "\"";
  whole.modified = clock_.Now();
  std::string etag = whole.etag;
  if (auto failed = Keep(bucket, key, &whole, m)) return *failed;
  buckets_[bucket].objects[key] = std::move(whole);
  uploads_.erase(it);
  return Xml(200, "<CompleteMultipartUploadResult" + std::string(kNs) + "><Location>/" + bucket +
                      "/" + XmlEscape(PercentEncode(key, true)) + "</Location><Bucket>" + bucket +
                      "</Bucket><Key>" + XmlEscape(key) + "</Key><ETag>" + XmlEscape(etag) +
                      "</ETag></CompleteMultipartUploadResult>");
}

}  // namespace portflow::fake_cloud

#include "cloud_backend/aws/s3.h"

#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cloud_backend/aws/xml.h"
#include "core/base64.h"
#include "core/encoding.h"

namespace portflow::aws {
namespace {

std::string ContentMd5(const std::string& data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d, &n, EVP_md5(), nullptr);
  return Base64Encode(std::string(reinterpret_cast<const char*>(d), n));
}

std::string Unquoted(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    etag = etag.substr(1, etag.size() - 2);
  return etag;
}

std::string Header(const Response& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

// Up to `n` bytes of `in`; "" at its end.
Result<std::string> ReadSome(std::ifstream& in, int64_t n, const std::string& path) {
  std::string out(static_cast<size_t>(n), '\0');
  in.read(out.data(), n);
  if (in.bad()) return InvalidArgument("cannot read " + path);
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

}  // namespace

Result<Response> S3::Call(const std::string& method, const std::string& bucket,
                          const std::string& key, const std::string& query,
                          std::vector<std::pair<std::string, std::string>> headers,
                          std::string body) {
  // S3 signs the path as it is sent, encoded once; the query's parameters
  // go in sorted order, encoded, each with its '=' (libcurl signs the query
  // as it is given).
  std::string path = "/" + bucket + (key.empty() ? "" : "/" + PercentEncode(key, true));
  return client_.Call({"s3", method, path + (query.empty() ? "" : "?" + query), std::move(headers),
                       std::move(body)});
}

Status S3::CreateBucket(const std::string& bucket) {
  std::string body;
  if (client_.region() != "us-east-1")
    body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        client_.region() + "</LocationConstraint></CreateBucketConfiguration>";
  Result<Response> r = Call("PUT", bucket, "", "", {}, body);
  if (!r.ok() && r.status().message().find("BucketAlreadyOwnedByYou") != std::string::npos)
    return OkStatus();
  return r.status();
}

Status S3::Put(const std::string& bucket, const std::string& key, const std::string& data) {
  return Call("PUT", bucket, key, "", {{"Content-MD5", ContentMd5(data)}}, data).status();
}

Result<std::string> S3::Get(const std::string& bucket, const std::string& key) {
  ASSIGN_OR_RETURN(Response r, Call("GET", bucket, key));
  return std::move(r.body);
}

Result<S3Object> S3::Head(const std::string& bucket, const std::string& key) {
  ASSIGN_OR_RETURN(Response r, Call("HEAD", bucket, key));
  S3Object o{key, 0, Unquoted(Header(r, "etag"))};
  try {
    o.size = std::stoll(Header(r, "content-length"));
  } catch (const std::exception&) {
    return Internal("HeadObject " + bucket + "/" + key + ": no Content-Length in the answer");
  }
  return o;
}

Result<std::vector<S3Object>> S3::List(const std::string& bucket, const std::string& prefix,
                                       int page_size) {
  std::vector<S3Object> out;
  std::string token;
  while (true) {
    std::string query =
        (token.empty() ? "" : "continuation-token=" + PercentEncode(token, false) + "&") +
        "list-type=2&max-keys=" + std::to_string(page_size) +
        "&prefix=" + PercentEncode(prefix, false);
    ASSIGN_OR_RETURN(Response r, Call("GET", bucket, "", query));
    for (const std::string& c : XmlElements(r.body, "Contents")) {
      S3Object o{XmlText(c, "Key"), 0, Unquoted(XmlText(c, "ETag"))};
      o.size = std::atoll(XmlText(c, "Size").c_str());
      out.push_back(std::move(o));
    }
    if (XmlText(r.body, "IsTruncated") != "true") return out;
    std::string next = XmlText(r.body, "NextContinuationToken");
    if (next.empty() || next == token)
      return Internal("ListObjectsV2 " + bucket + ": a truncated page without a new token");
    token = next;
  }
}

Status S3::Delete(const std::string& bucket, const std::string& key) {
  return Call("DELETE", bucket, key).status();
}

Status S3::Upload(const std::string& bucket, const std::string& key, const std::string& path,
                  int64_t part_size) {
  part_size = std::max(part_size, kMinPartSize);
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read " + path);
  ASSIGN_OR_RETURN(std::string first, ReadSome(in, part_size, path));
  if (in.peek() == std::char_traits<char>::eof()) return Put(bucket, key, first);

  ASSIGN_OR_RETURN(Response created, Call("POST", bucket, key, "uploads="));
  std::string id = XmlText(created.body, "UploadId");
  if (id.empty()) return Internal("CreateMultipartUpload " + bucket + "/" + key + ": no UploadId");
  std::string upload = "uploadId=" + PercentEncode(id, false);
  auto abort = [&](const Status& why) {
    (void)Call("DELETE", bucket, key, upload);  // the parts would be billed, unseen
    return why;
  };
  std::string manifest;
  std::string part = std::move(first);
  for (int number = 1; !part.empty(); ++number) {
    std::string md5 = ContentMd5(part);  // before the part moves into the call
    Result<Response> r =
        Call("PUT", bucket, key, "partNumber=" + std::to_string(number) + "&" + upload,
             {{"Content-MD5", md5}}, std::move(part));
    if (!r.ok()) return abort(r.status());
    manifest += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" +
                XmlEscape(Header(*r, "etag")) + "</ETag></Part>";
    Result<std::string> next = ReadSome(in, part_size, path);
    if (!next.ok()) return abort(next.status());
    part = std::move(*next);
  }
  Result<Response> done =
      Call("POST", bucket, key, upload, {{"Content-Type", "application/xml"}},
           "<CompleteMultipartUpload>" + manifest + "</CompleteMultipartUpload>");
  if (!done.ok()) return abort(done.status());
  // S3 may answer 200 and put its error in the body.
  if (std::string code = XmlText(done->body, "Code"); !code.empty())
    return abort(Internal("CompleteMultipartUpload " + bucket + "/" + key + ": " + code + ": " +
                          XmlText(done->body, "Message")));
  return OkStatus();
}

Status S3::Download(const std::string& bucket, const std::string& key, const std::string& path,
                    int64_t part_size) {
  ASSIGN_OR_RETURN(S3Object object, Head(bucket, key));
  std::string partial = path + ".partial";
  std::ofstream out(partial, std::ios::binary | std::ios::trunc);
  if (!out) return InvalidArgument("cannot write " + partial);
  part_size = std::max<int64_t>(part_size, 1);
  for (int64_t at = 0; at < object.size; at += part_size) {
    int64_t last = std::min(object.size, at + part_size) - 1;
    Result<Response> r =
        Call("GET", bucket, key, "",
             {{"Range", "bytes=" + std::to_string(at) + "-" + std::to_string(last)},
              {"If-Match", "\"" + object.etag + "\""}});
    if (!r.ok() || static_cast<int64_t>(r->body.size()) != last - at + 1) {
      out.close();
      std::remove(partial.c_str());
      if (!r.ok()) return r.status();
      return Internal("GetObject " + bucket + "/" + key + ": bytes " + std::to_string(at) + "-" +
                      std::to_string(last) + " came back " + std::to_string(r->body.size()) +
                      " long");
    }
    out.write(r->body.data(), static_cast<std::streamsize>(r->body.size()));
  }
  out.close();
  std::error_code ec;
  if (!out || (std::filesystem::rename(partial, path, ec), ec)) {
    std::remove(partial.c_str());
    return InvalidArgument("cannot write " + path);
  }
  return OkStatus();
}

}  // namespace portflow::aws

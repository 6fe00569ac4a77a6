#include "cloud_backend/artifacts/run_artifacts.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

namespace portflow::artifacts {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Trim(std::string s) {
  while (!s.empty() && s.front() == '/') s.erase(s.begin());
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// A relative path that stays below where it is put: no "..", no root.
bool Contained(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  for (const auto& part : fs::path(path))
    if (part == ".." || part == ".") return false;
  return true;
}

}  // namespace

Result<StoreUri> ParseStoreUri(std::string_view uri) {
  constexpr std::string_view kScheme = "s3://";
  if (uri.substr(0, kScheme.size()) != kScheme)
    return InvalidArgument("\"" + std::string(uri) + "\" is not an S3 URI (s3://BUCKET/PREFIX)");
  std::string rest(uri.substr(kScheme.size()));
  size_t slash = rest.find('/');
  StoreUri out{rest.substr(0, slash), slash == std::string::npos ? "" : Trim(rest.substr(slash))};
  if (out.bucket.empty())
    return InvalidArgument("\"" + std::string(uri) + "\" names no bucket (s3://BUCKET/PREFIX)");
  return out;
}

Result<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read " + path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return Internal("SHA-256 is not available");
  std::vector<char> block(1 << 16);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    if (in.gcount() > 0)
      EVP_DigestUpdate(ctx.get(), block.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return InvalidArgument("cannot read " + path);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

RunArtifacts::RunArtifacts(aws::S3& s3, StoreUri uri, std::string run_id)
    : s3_(s3), uri_(std::move(uri)), run_id_(std::move(run_id)) {}

std::string RunArtifacts::Base() const {
  return (uri_.prefix.empty() ? "" : uri_.prefix + "/") + run_id_;
}

std::string RunArtifacts::FileKey(const std::string& rel, const std::string& path) const {
  return Base() + "/" + Trim(rel) + "/" + path;
}

std::string RunArtifacts::ManifestKey(const std::string& rel) const {
  return Base() + "/.portflow/manifests/" + Trim(rel) + ".json";
}

Result<std::vector<FileEntry>> RunArtifacts::Upload(const std::string& rel,
                                                    const std::string& dir) {
  std::vector<FileEntry> files;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;  // links stay behind
      FileEntry f;
      f.path = fs::relative(it->path(), dir, ec).generic_string();
      f.size = static_cast<int64_t>(it->file_size(ec));
      files.push_back(std::move(f));
    }
    if (ec) return InvalidArgument("cannot list " + dir + ": " + ec.message());
  }
  std::sort(files.begin(), files.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  json manifest = {{"run", run_id_}, {"output", Trim(rel)}, {"files", json::array()}};
  for (FileEntry& f : files) {
    const std::string local = dir + "/" + f.path;
    ASSIGN_OR_RETURN(f.sha256, FileSha256(local));
    RETURN_IF_ERROR(s3_.Upload(uri_.bucket, FileKey(rel, f.path), local));
    manifest["files"].push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
  }
  // Last: the output is there once its manifest is.
  RETURN_IF_ERROR(s3_.Put(uri_.bucket, ManifestKey(rel), manifest.dump(1)));
  return files;
}

Result<std::vector<FileEntry>> RunArtifacts::Download(const std::string& rel,
                                                      const std::string& dir) {
  // The output itself, and (for STEP/OUTPUT) each matrix instance's.
  const std::string manifests = Base() + "/.portflow/manifests/";
  std::vector<std::string> keys;
  if (s3_.Head(uri_.bucket, ManifestKey(rel)).ok()) keys.push_back(ManifestKey(rel));
  ASSIGN_OR_RETURN(auto below, s3_.List(uri_.bucket, manifests + Trim(rel) + "/"));
  for (const aws::S3Object& o : below)
    if (o.key.size() > 5 && o.key.substr(o.key.size() - 5) == ".json") keys.push_back(o.key);
  if (keys.empty())
    return NotFound("no finished output " + Trim(rel) + " of run " + run_id_ + " in s3://" +
                    uri_.bucket + "/" + Base());
  std::vector<FileEntry> written;
  for (const std::string& key : keys) {
    // The output this manifest is of, and its folder below `dir`.
    std::string output = key.substr(manifests.size(), key.size() - manifests.size() - 5);
    std::string sub = output.size() > Trim(rel).size() ? output.substr(Trim(rel).size() + 1) : "";
    ASSIGN_OR_RETURN(std::string text, s3_.Get(uri_.bucket, key));
    json manifest = json::parse(text, nullptr, false);
    if (!manifest.is_object() || !manifest["files"].is_array())
      return Internal("the manifest " + key + " is damaged");
    for (const json& f : manifest["files"]) {
      FileEntry e{f.value("path", ""), f.value("size", int64_t{-1}), f.value("sha256", "")};
      if (!Contained(e.path))
        return InvalidArgument("the manifest " + key + " names a file outside its output: \"" +
                               e.path + "\"");
      const std::string into = (sub.empty() ? "" : sub + "/") + e.path;
      const std::string local = dir + "/" + into;
      std::error_code ec;
      fs::create_directories(fs::path(local).parent_path(), ec);
      // Already here, whole (another replica of a gang fetched it): kept.
      if (fs::is_regular_file(local, ec) &&
          static_cast<int64_t>(fs::file_size(local, ec)) == e.size) {
        auto here = FileSha256(local);
        if (here.ok() && *here == e.sha256) {
          written.push_back({into, e.size, e.sha256});
          continue;
        }
      }
      RETURN_IF_ERROR(s3_.Download(uri_.bucket, FileKey(output, e.path), local));
      auto sha = FileSha256(local);
      int64_t size = static_cast<int64_t>(fs::file_size(local, ec));
      if (!sha.ok() || *sha != e.sha256 || size != e.size) {
        fs::remove(local, ec);
        return Internal("s3://" + uri_.bucket + "/" + FileKey(output, e.path) +
                        " is not what its output's manifest says (" + std::to_string(e.size) +
                        " bytes, SHA-256 " + e.sha256 + "; got " + std::to_string(size) +
                        " bytes, " + (sha.ok() ? *sha : sha.status().message()) + ")");
      }
      written.push_back({into, e.size, e.sha256});
    }
  }
  return written;
}

}  // namespace portflow::artifacts

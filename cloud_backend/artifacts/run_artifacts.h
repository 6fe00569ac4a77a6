// A run's outputs in an S3-compatible object store, for runs whose steps
// run in more than one place (a hybrid target's members). Layout under the
// store's URI (s3://BUCKET/PREFIX):
//
//   PREFIX/RUN/STEP/OUTPUT[/MATRIX]/FILE                       the files
//   PREFIX/RUN/.portflow/manifests/STEP/OUTPUT[/MATRIX].json   one per output
//
// A manifest lists each file of one output with its size and SHA-256, and
// is written last: an output without one was never finished, and is not
// read. Downloads are checked against it. `portflow agent` uses this in
// pods; the engine uses it on the laptop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cloud_backend/aws/s3.h"
#include "core/status.h"

namespace portflow::artifacts {

// "s3://BUCKET/PREFIX" (the prefix may be empty); InvalidArgument otherwise.
struct StoreUri {
  std::string bucket;
  std::string prefix;  // no leading or trailing '/'
};
Result<StoreUri> ParseStoreUri(std::string_view uri);

struct FileEntry {
  std::string path;  // relative to the output's folder, '/'-separated
  int64_t size = 0;
  std::string sha256;  // lower-case hex
};

// The SHA-256 of the file at `path`, read a block at a time.
Result<std::string> FileSha256(const std::string& path);

class RunArtifacts {
 public:
  RunArtifacts(aws::S3& s3, StoreUri uri, std::string run_id);

  // Every file under `dir` (following no links) as output `rel`
  // (STEP/OUTPUT or STEP/OUTPUT/MATRIX), then its manifest. A folder with
  // no files is an output with none.
  Result<std::vector<FileEntry>> Upload(const std::string& rel, const std::string& dir);

  // Into `dir`, every finished output at or below `rel` (STEP/OUTPUT gets
  // each matrix instance's folder too), as their manifests list them: each
  // file's size and SHA-256 checked (Internal when they differ, and the
  // file is not left). NotFound when no output there has a manifest.
  // Returns what it wrote, relative to `dir`.
  Result<std::vector<FileEntry>> Download(const std::string& rel, const std::string& dir);

  // The key of `rel`'s file `path`, and of `rel`'s manifest.
  std::string FileKey(const std::string& rel, const std::string& path) const;
  std::string ManifestKey(const std::string& rel) const;

 private:
  std::string Base() const;  // PREFIX/RUN

  aws::S3& s3_;
  StoreUri uri_;
  std::string run_id_;
};

}  // namespace portflow::artifacts

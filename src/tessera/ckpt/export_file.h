// Where an exporter may write, and how: exports never replace what they should not, and never leave a
// partial file under the target's name.
//
// A target is refused (InvalidArgument, one line naming the path and what was found) when it
//   - exists and is not a regular file (a device, FIFO, socket, directory or symbolic link): writing a
//     "file" there would replace the node (as root, `/dev/full` became a regular file) or hang on a FIFO;
//   - lies inside a checkpoint: any directory on its resolved path is a step directory (holds COMMIT or
//     manifest.json) or a checkpoints/ directory (holds committed step_N directories) — an export over a
//     checkpoint's own data file destroyed it;
//   - exists as a regular file and `force` is false.
// Checks run on the resolved path (symbolic links in the directories followed), before anything is
// written. They are advisory against a concurrent writer; the write itself stays atomic either way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/core/status.h"

namespace tessera {

// A file target (safetensors, GGUF): the rules above; its directory must exist.
Status check_export_file_target(const std::string& path, bool force);

// A directory target (a Hugging Face model directory): it must be a directory or not exist (then its
// parent must); not inside a checkpoint; if it exists and is not empty, `force` is required. Each file
// later written into it is checked with check_export_file_target(file, force).
Status check_export_dir_target(const std::string& dir, bool force);

// A file written all-or-nothing: bytes go to a fresh temporary "<dir>/.<name>.XXXXXX.tmp" (created with
// O_EXCL, so it can never be a device or FIFO left there), commit() fsyncs it, renames it over `path` and
// fsyncs the directory. Until commit() succeeds `path` is untouched; the destructor removes an
// uncommitted temporary. Move-only owner of the descriptor. Not thread-safe.
class AtomicOutputFile {
 public:
  static StatusOr<AtomicOutputFile> create(const std::string& path);
  AtomicOutputFile(AtomicOutputFile&& other) noexcept;
  AtomicOutputFile& operator=(AtomicOutputFile&& other) = delete;
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;
  ~AtomicOutputFile();

  Status write(const void* data, size_t bytes);
  Status write(std::string_view bytes) { return write(bytes.data(), bytes.size()); }
  uint64_t bytes_written() const { return written_; }
  Status commit();

 private:
  AtomicOutputFile(std::string path, std::string tmp_path, int fd) : path_(std::move(path)), tmp_path_(std::move(tmp_path)), fd_(fd) {}
  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;  // -1 once committed or moved from
  uint64_t written_ = 0;
};

}  // namespace tessera

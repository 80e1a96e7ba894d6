// The file-system seam: every read, durable write and mmap of Tessera goes through here, so that
// errors carry the path and the OS reason, and writes are all-or-nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/core/status.h"

namespace tessera {

StatusOr<std::string> read_file(const std::string& path);

// Reads a file that must be a regular file of at most `max_bytes` (configs, manifests: small text a user
// names on the command line). A directory, FIFO, device or socket is refused without reading or blocking
// ("'x': expected a regular file, found a directory"), and so is a larger file, before it is read.
StatusOr<std::string> read_regular_file(const std::string& path, int64_t max_bytes);

// What is at `path`, in words for messages: "a regular file", "a directory", "a FIFO", "a character
// device", "a block device", "a socket", "a symbolic link to nothing", or "nothing".
std::string describe_file_type(const std::string& path);

// Writes `bytes` to `path` atomically and durably: write to "path.tmp.<pid>", fsync, rename over
// `path`, fsync the directory. A crash leaves either the old file or the new one, never a torn one.
Status write_file_atomic(const std::string& path, std::string_view bytes);

// fsync a file written by other means (a stream), before it is renamed into place.
Status fsync_file(const std::string& path);

// fsync a directory so that renames and creations inside it survive a crash.
Status fsync_directory(const std::string& dir);

bool path_exists(const std::string& path);
Status make_directories(const std::string& path);

// A read-only memory map of a whole file. Move-only owner; unmaps on destruction.
class MappedFile {
 public:
  static StatusOr<MappedFile> open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// A new file of `size` bytes mapped for writing (MAP_SHARED: what is stored through data() is the file's
// content), for receiving bytes straight into a file without a staging buffer. create() fails if the file
// exists. Move-only owner; unmaps on destruction (the file stays).
class WritableMappedFile {
 public:
  static StatusOr<WritableMappedFile> create(const std::string& path, size_t size);
  WritableMappedFile() = default;
  WritableMappedFile(WritableMappedFile&& other) noexcept;
  WritableMappedFile& operator=(WritableMappedFile&& other) noexcept;
  WritableMappedFile(const WritableMappedFile&) = delete;
  WritableMappedFile& operator=(const WritableMappedFile&) = delete;
  ~WritableMappedFile();

  uint8_t* data() { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tessera

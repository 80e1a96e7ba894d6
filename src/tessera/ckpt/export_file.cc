#include "tessera/ckpt/export_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/core/check.h"
#include "tessera/core/file.h"

namespace tessera {

namespace {

namespace fs = std::filesystem;

std::string os_reason() { return std::strerror(errno); }

// What lstat() found at a path, in words, for messages ("a character device").
std::string describe_node(const struct stat& st) {
  if (S_ISREG(st.st_mode)) return "a regular file of " + std::to_string(st.st_size) + " bytes";
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISBLK(st.st_mode)) return "a block device";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISLNK(st.st_mode)) return "a symbolic link";
  return "a special file";
}

bool is_checkpoint_step_dir(const fs::path& dir) {
  return path_exists((dir / "COMMIT").string()) || path_exists((dir / "manifest.json").string());
}

// The first directory on `path`'s resolved ancestry that is a checkpoint (step directory) or a
// checkpoints/ directory; empty if none.
std::string enclosing_checkpoint(const fs::path& path) {
  std::error_code error;
  fs::path resolved = fs::weakly_canonical(fs::absolute(path, error), error);
  if (error) resolved = fs::absolute(path);
  for (fs::path dir = resolved.parent_path();; dir = dir.parent_path()) {
    if (is_checkpoint_step_dir(dir) || !list_checkpoints(dir.string()).empty()) return dir.string();
    if (dir == dir.parent_path()) break;
  }
  return "";
}

}  // namespace

Status check_export_file_target(const std::string& path, bool force) {
  if (path.empty()) return invalid_argument_error("--out is empty; expected a file path");
  struct stat st;
  const bool exists = ::lstat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    return invalid_argument_error("'{}' is {}; expected a regular file or a new path", path,
                                  describe_node(st));
  }
  if (const std::string checkpoint = enclosing_checkpoint(path); !checkpoint.empty()) {
    return invalid_argument_error("'{}' is inside the checkpoint directory '{}'; hint: write exports outside "
                                  "checkpoints",
                                  path, checkpoint);
  }
  if (exists && !force) {
    return invalid_argument_error("'{}' already exists ({}); hint: pass --force to replace it", path,
                                  describe_node(st));
  }
  const fs::path parent = fs::absolute(path).parent_path();
  struct stat parent_st;
  if (::stat(parent.c_str(), &parent_st) != 0 || !S_ISDIR(parent_st.st_mode)) {
    return invalid_argument_error("the directory '{}' of '{}' does not exist", parent.string(), path);
  }
  return Status();
}

Status check_export_dir_target(const std::string& dir, bool force) {
  if (dir.empty()) return invalid_argument_error("--out is empty; expected a directory path");
  struct stat st;
  const bool exists = ::lstat(dir.c_str(), &st) == 0;
  if (exists && !S_ISDIR(st.st_mode)) {
    return invalid_argument_error("'{}' is {}; expected a directory or a new path", dir, describe_node(st));
  }
  if (const std::string checkpoint = enclosing_checkpoint(fs::path(dir) / "x"); !checkpoint.empty()) {
    return invalid_argument_error("'{}' is inside the checkpoint directory '{}'; hint: write exports outside "
                                  "checkpoints",
                                  dir, checkpoint);
  }
  if (exists) {
    std::error_code error;
    const bool empty = fs::is_empty(dir, error);
    if (error) return io_error("cannot list '{}': {}", dir, error.message());
    if (!empty && !force) {
      return invalid_argument_error("directory '{}' already exists and is not empty; hint: pass --force to "
                                    "replace the exported files in it",
                                    dir);
    }
    return Status();
  }
  const fs::path parent = fs::absolute(dir).parent_path();
  struct stat parent_st;
  if (::stat(parent.c_str(), &parent_st) != 0 || !S_ISDIR(parent_st.st_mode)) {
    return invalid_argument_error("the directory '{}' of '{}' does not exist", parent.string(), dir);
  }
  return Status();
}

StatusOr<AtomicOutputFile> AtomicOutputFile::create(const std::string& path) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX.tmp")).string();
  const int fd = ::mkstemps(tmp.data(), 4);  // O_CREAT | O_EXCL, mode 0600
  if (fd < 0) return io_error("cannot create a temporary file in '{}': {}", dir.string(), os_reason());
  ::fchmod(fd, 0644);
  return AtomicOutputFile(path, std::move(tmp), fd);
}

AtomicOutputFile::AtomicOutputFile(AtomicOutputFile&& other) noexcept
    : path_(std::move(other.path_)),
      tmp_path_(std::move(other.tmp_path_)),
      fd_(std::exchange(other.fd_, -1)),
      written_(other.written_) {}

AtomicOutputFile::~AtomicOutputFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_path_.c_str());
  }
}

Status AtomicOutputFile::write(const void* data, size_t bytes) {
  TESSERA_CHECK(fd_ >= 0, "write after commit of '{}'", path_);
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write '{}': {}", tmp_path_, os_reason());
    }
    p += n;
    bytes -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
  return Status();
}

Status AtomicOutputFile::commit() {
  TESSERA_CHECK(fd_ >= 0, "commit twice of '{}'", path_);
  // Durable like every other write (core/file.h): the bytes reach the disk before the name does.
  if (::fsync(fd_) != 0) return io_error("cannot fsync '{}': {}", tmp_path_, os_reason());
  if (::close(std::exchange(fd_, -1)) != 0) {
    const std::string reason = os_reason();
    ::unlink(tmp_path_.c_str());
    return io_error("cannot close '{}': {}", tmp_path_, reason);
  }
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const std::string reason = os_reason();
    ::unlink(tmp_path_.c_str());
    return io_error("cannot rename '{}' to '{}': {}", tmp_path_, path_, reason);
  }
  const fs::path target(path_);
  return fsync_directory(target.has_parent_path() ? target.parent_path().string() : ".").with_context("export");
}

}  // namespace tessera

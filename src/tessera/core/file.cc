#include "tessera/core/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tessera {

namespace {
std::string os_reason() { return std::strerror(errno); }

Status write_all(int fd, std::string_view bytes, const std::string& path) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write '{}': {}", path, os_reason());
    }
    written += static_cast<size_t>(n);
  }
  return Status();
}

// open(2) for reading, with the path and the OS reason in the error (not-found kept apart).
StatusOr<int> open_for_reading(const std::string& path, int extra_flags) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags);
  if (fd < 0) {
    if (errno == ENOENT) return not_found_error("cannot open '{}': no such file", path);
    return io_error("cannot open '{}': {}", path, os_reason());
  }
  return fd;
}

// Reads `fd` to its end and closes it. With `limit` >= 0, stops after limit + 1 bytes: enough to tell that
// the file holds more than `limit`.
StatusOr<std::string> read_to_end_and_close(int fd, const std::string& path, int64_t limit) {
  std::string bytes;
  char buffer[1 << 16];
  while (limit < 0 || static_cast<int64_t>(bytes.size()) <= limit) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string reason = os_reason();
      ::close(fd);
      return io_error("cannot read '{}': {}", path, reason);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

const char* file_mode_name(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "an unknown kind of file";
}

}  // namespace

StatusOr<std::string> read_file(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const int fd, open_for_reading(path, 0));
  return read_to_end_and_close(fd, path, -1);
}

std::string describe_file_type(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    struct stat link;
    return ::lstat(path.c_str(), &link) == 0 ? "a symbolic link to nothing" : "nothing";
  }
  return file_mode_name(st.st_mode);
}

StatusOr<std::string> read_regular_file(const std::string& path, int64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO with no writer must not wait; the type check below refuses it anyway. The
  // checks and the read use the same descriptor, so what is read is what was checked.
  TESSERA_ASSIGN_OR_RETURN(const int fd, open_for_reading(path, O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const std::string reason = os_reason();
    ::close(fd);
    return io_error("cannot stat '{}': {}", path, reason);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_argument_error("'{}': expected a regular file, found {}", path, file_mode_name(st.st_mode));
  }
  if (st.st_size > max_bytes) {
    ::close(fd);
    return invalid_argument_error("'{}': expected a file of at most {} bytes, found {} bytes", path, max_bytes,
                                  static_cast<int64_t>(st.st_size));
  }
  TESSERA_ASSIGN_OR_RETURN(std::string bytes, read_to_end_and_close(fd, path, max_bytes));
  if (static_cast<int64_t>(bytes.size()) > max_bytes) {  // grew since the check
    return invalid_argument_error("'{}': expected a file of at most {} bytes, found more", path, max_bytes);
  }
  return bytes;
}

Status fsync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open '{}' to fsync: {}", path, os_reason());
  const int rc = ::fsync(fd);
  const std::string reason = rc != 0 ? os_reason() : "";
  ::close(fd);
  if (rc != 0) return io_error("cannot fsync '{}': {}", path, reason);
  return Status();
}

Status fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open directory '{}': {}", dir, os_reason());
  const int rc = ::fsync(fd);
  const std::string reason = rc != 0 ? os_reason() : "";
  ::close(fd);
  if (rc != 0) return io_error("cannot fsync directory '{}': {}", dir, reason);
  return Status();
}

Status write_file_atomic(const std::string& path, std::string_view bytes) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create '{}': {}", tmp, os_reason());
  Status status = write_all(fd, bytes, tmp);
  if (status.ok() && ::fsync(fd) != 0) status = io_error("cannot fsync '{}': {}", tmp, os_reason());
  ::close(fd);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = io_error("cannot rename '{}' to '{}': {}", tmp, path, os_reason());
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return fsync_directory(std::filesystem::path(path).parent_path().string());
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Status make_directories(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return io_error("cannot create directory '{}': {}", path, error.message());
  return Status();
}

StatusOr<MappedFile> MappedFile::open(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const int fd, open_for_reading(path, 0));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const std::string reason = os_reason();
    ::close(fd);
    return io_error("cannot stat '{}': {}", path, reason);
  }
  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(st.st_size);
  if (file.size_ > 0) {
    void* addr = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      const std::string reason = os_reason();
      ::close(fd);
      return io_error("cannot mmap '{}': {}", path, reason);
    }
    file.data_ = static_cast<const uint8_t*>(addr);
  }
  ::close(fd);  // the mapping keeps the file alive
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    path_ = std::move(other.path_);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

StatusOr<WritableMappedFile> WritableMappedFile::create(const std::string& path, size_t size) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create '{}': {}", path, os_reason());
  WritableMappedFile file;
  file.size_ = size;
  if (size > 0) {
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      const std::string reason = os_reason();
      ::close(fd);
      return io_error("cannot size '{}' to {} bytes: {}", path, size, reason);
    }
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
      const std::string reason = os_reason();
      ::close(fd);
      return io_error("cannot mmap '{}' for writing: {}", path, reason);
    }
    file.data_ = static_cast<uint8_t*>(addr);
  }
  ::close(fd);  // the mapping keeps the file open
  return file;
}

WritableMappedFile::WritableMappedFile(WritableMappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

WritableMappedFile& WritableMappedFile::operator=(WritableMappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

WritableMappedFile::~WritableMappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

}  // namespace tessera

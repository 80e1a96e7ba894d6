#include "tessera/core/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace tessera {

namespace {

// The holder's "pid N host H" line, or a note that it could not be read.
std::string read_holder(int fd) {
  char buffer[256];
  const ssize_t n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "held by another process (it has not written its pid yet)";
  std::string line(buffer, static_cast<size_t>(n));
  if (const size_t end = line.find('\n'); end != std::string::npos) line.resize(end);
  return "held by " + line;
}

}  // namespace

StatusOr<FileLock> FileLock::acquire(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot open the lock file '{}': {}", path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder = error == EWOULDBLOCK ? read_holder(fd) : std::string(std::strerror(error));
    ::close(fd);
    if (error == EWOULDBLOCK) return failed_precondition_error("'{}' is {}", path, holder);
    return io_error("cannot lock '{}': {}", path, holder);
  }
  char host[256] = "unknown";
  ::gethostname(host, sizeof(host) - 1);
  const std::string line = fmt::format("pid {} host {}\n", ::getpid(), host);
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    return io_error("cannot write the lock file '{}': {}", path, reason);
  }
  return FileLock(fd, path);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

// Closing the descriptor releases the lock. The file stays: removing it would race with a process that
// opened it and is about to lock it (it would then lock an unlinked file while a third creates a new one).
FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace tessera

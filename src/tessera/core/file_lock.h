// FileLock: an exclusive, advisory lock on a file (flock), held by one owner until it is destroyed, e.g. a
// run directory's `lock` file for the whole life of the trainer that writes it (issue 7: two trainers on
// one --out deleted each other's metrics and checkpoints).
//
// The lock file holds "pid <pid> host <hostname>\n" of the holder, so that the refusal can name it. The
// kernel drops the lock when the holder's process dies, however it dies (kill -9 included): a stale lock
// file never blocks the next run. Move-only; not thread-safe.
#pragma once

#include <string>

#include "tessera/core/status.h"

namespace tessera {

class FileLock {
 public:
  // Creates `path` if needed and takes the lock without waiting. If another process holds it: a
  // FailedPrecondition naming `path` and the holder ("held by pid 1234 on host h1").
  static StatusOr<FileLock> acquire(const std::string& path);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  const std::string& path() const { return path_; }

 private:
  FileLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace tessera

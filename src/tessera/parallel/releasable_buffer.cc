#include "tessera/parallel/releasable_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace tessera {

StatusOr<ReleasableBuffer> ReleasableBuffer::create(int64_t floats) {
  ReleasableBuffer buffer;
  if (floats <= 0) return buffer;
  const size_t bytes = static_cast<size_t>(floats) * sizeof(float);
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) {
    return unavailable_error("cannot reserve {} MiB of address space: {}", bytes >> 20, std::strerror(errno));
  }
  // A hint: without transparent huge pages (or with them `never`) it fails or does nothing, and 4 KiB pages serve.
  (void)::madvise(memory, bytes, MADV_HUGEPAGE);
  buffer.data_ = static_cast<float*>(memory);
  buffer.floats_ = floats;
  buffer.mapped_bytes_ = bytes;
  return buffer;
}

ReleasableBuffer ReleasableBuffer::adopt(CommBuffer buffer) {
  ReleasableBuffer released;
  released.data_ = buffer.as<float>();
  released.floats_ = buffer.bytes() / static_cast<int64_t>(sizeof(float));
  released.adopted_ = std::move(buffer);
  released.release(0, released.floats_);
  return released;
}

ReleasableBuffer::ReleasableBuffer(ReleasableBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      floats_(std::exchange(other.floats_, 0)),
      mapped_bytes_(std::exchange(other.mapped_bytes_, 0)),
      adopted_(std::move(other.adopted_)) {}

ReleasableBuffer& ReleasableBuffer::operator=(ReleasableBuffer&& other) noexcept {
  if (this != &other) {
    if (mapped_bytes_ > 0) ::munmap(data_, mapped_bytes_);
    data_ = std::exchange(other.data_, nullptr);
    floats_ = std::exchange(other.floats_, 0);
    mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
    adopted_ = std::move(other.adopted_);
  }
  return *this;
}

ReleasableBuffer::~ReleasableBuffer() {
  if (mapped_bytes_ > 0) ::munmap(data_, mapped_bytes_);
}

void ReleasableBuffer::release(int64_t begin, int64_t end) {
  if (begin >= end) return;
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = reinterpret_cast<uintptr_t>(data_ + begin), last = reinterpret_cast<uintptr_t>(data_ + end);
  const uintptr_t inner_first = (first + page - 1) / page * page, inner_last = last / page * page;
  if (inner_first >= inner_last) {  // no whole page inside
    std::memset(data_ + begin, 0, static_cast<size_t>(end - begin) * sizeof(float));
    return;
  }
  std::memset(data_ + begin, 0, inner_first - first);
  std::memset(reinterpret_cast<void*>(inner_last), 0, last - inner_last);
  // Shared memory (a shm segment): punch a hole, which frees the pages for every process mapping them.
  // Private memory (our mapping, or a heap buffer): MADV_REMOVE fails with EINVAL and DONTNEED frees them.
  void* pages = reinterpret_cast<void*>(inner_first);
  const size_t length = inner_last - inner_first;
  if (::madvise(pages, length, MADV_REMOVE) != 0) ::madvise(pages, length, MADV_DONTNEED);
}

}  // namespace tessera

#include "tessera/comm/comm_handle.h"

#include <cstdlib>
#include <cstring>

#include "tessera/comm/communicator.h"

namespace tessera {

CommHandle& CommHandle::operator=(CommHandle&& other) noexcept {
  if (this != &other) {
    (void)wait();
    op_ = std::move(other.op_);
    status_ = std::move(other.status_);
  }
  return *this;
}

CommHandle::~CommHandle() { (void)wait(); }

Status CommHandle::wait() {
  if (op_) {
    status_ = op_->wait();
    op_.reset();
  }
  return status_;
}

bool CommHandle::test() {
  if (op_ && op_->test()) (void)wait();
  return op_ == nullptr;
}

CommBuffer::CommBuffer(CommBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)),
      release_(std::move(other.release_)) {
  other.release_ = nullptr;
}

CommBuffer& CommBuffer::operator=(CommBuffer&& other) noexcept {
  if (this != &other) {
    if (release_) release_();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    release_ = std::move(other.release_);
    other.release_ = nullptr;
  }
  return *this;
}

CommBuffer::~CommBuffer() {
  if (release_) release_();
}

StatusOr<CommBuffer> allocate_heap_buffer(int64_t bytes) {
  if (bytes < 0) return invalid_argument_error("comm: allocate: {} bytes is negative", bytes);
  const size_t rounded = (static_cast<size_t>(bytes) + 63) / 64 * 64;
  void* data = std::aligned_alloc(64, std::max<size_t>(rounded, 64));
  if (data == nullptr) return unavailable_error("comm: allocate: out of memory for {} bytes", bytes);
  return CommBuffer(data, bytes, [data] { std::free(data); });
}

}  // namespace tessera

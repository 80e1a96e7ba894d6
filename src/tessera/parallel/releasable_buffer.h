// ReleasableBuffer: a large zero-filled float buffer whose pages can be handed back to the kernel range by
// range, so that memory is resident only while a range is in use (ZeRO-3's gathered parameters, ZeRO-2/3's
// full-size gradients between a unit's backward and its reduce-scatter). Anonymous private mmap: pages are
// made on first touch and release() returns them (MADV_DONTNEED), after which the range reads as zeros.
// Move-only; unmaps on destruction.
#pragma once

#include <cstdint>

#include "tessera/core/status.h"

namespace tessera {

class ReleasableBuffer {
 public:
  ReleasableBuffer() = default;
  static StatusOr<ReleasableBuffer> create(int64_t floats);
  ReleasableBuffer(ReleasableBuffer&& other) noexcept;
  ReleasableBuffer& operator=(ReleasableBuffer&& other) noexcept;
  ReleasableBuffer(const ReleasableBuffer&) = delete;
  ReleasableBuffer& operator=(const ReleasableBuffer&) = delete;
  ~ReleasableBuffer();

  float* data() const { return data_; }
  int64_t size() const { return floats_; }
  // Floats [begin, end) read as zero afterwards; the whole pages inside are returned to the kernel and the
  // partial pages at either end are zeroed in place (they may hold neighbouring ranges' data).
  void release(int64_t begin, int64_t end);

 private:
  float* data_ = nullptr;
  int64_t floats_ = 0;
  size_t mapped_bytes_ = 0;
};

}  // namespace tessera

// ReleasableBuffer: a large zero-filled float buffer whose pages can be handed back to the kernel range by
// range, so that memory is resident only while a range is in use (ZeRO-3's gathered parameters, ZeRO-2/3's
// full-size gradients between a unit's backward and its reduce-scatter). Pages are made on first touch and
// release() returns them, after which the range reads as zeros. Two kinds of memory:
//   create(n)       anonymous private mmap, released with MADV_DONTNEED; unmapped on destruction. Advised
//                   MADV_HUGEPAGE: where transparent huge pages are enabled (`madvise` or `always`), a range
//                   comes back in 2 MiB pages, one fault each instead of 512 (ZeRO-3 re-faults every gathered
//                   unit twice a step);
//   adopt(buffer)   communicator memory (Communicator::allocate: shm segments, which collectives use in place)
//                   released with MADV_REMOVE (a hole punched in the shared segment, freed for every rank that
//                   maps it), or MADV_DONTNEED where the memory is private; freed with the CommBuffer.
// Move-only.
#pragma once

#include <cstdint>

#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"

namespace tessera {

class ReleasableBuffer {
 public:
  ReleasableBuffer() = default;
  static StatusOr<ReleasableBuffer> create(int64_t floats);
  // Takes over `buffer` (whole floats of it) and releases all of it: it reads as zeros, nothing resident.
  static ReleasableBuffer adopt(CommBuffer buffer);
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
  size_t mapped_bytes_ = 0;  // > 0: our own mapping, unmapped on destruction
  CommBuffer adopted_;       // or communicator memory
};

}  // namespace tessera

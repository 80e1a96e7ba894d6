// AlignedBuffer<T>: a move-only, 64-byte-aligned heap array (cache lines, AVX-512 loads). Zero-filled on
// allocation so that a fresh buffer never holds garbage.
//
// Buffers of kHugePageMinBytes (32 MiB) or more are aligned to and rounded up to 2 MiB and advised to the kernel as
// transparent huge pages (madvise MADV_HUGEPAGE, before the zero fill faults them in; this machine's THP mode is
// "madvise", so nothing is huge otherwise). The largest buffers (the LM head's logits and its group of bf16
// dlogits, read in strided column blocks; parameters, gradients, AdamW's moments) took a TLB miss every few rows on
// 4 KiB pages. configs/small.toml, alternating rounds against the same code without the advice (bench/RESULTS.md
// 2026-12-03 19:50): bf16 +4.6% (median of 12, 7 faster), fp32 +0.7% (median of 8, within the noise). Advising
// every buffer from 2 MiB measured +3.9% / +5.4% but rounded ~70 activation buffers up to whole huge pages, +43 MiB
// of RSS at small.toml. Where the kernel refuses the advice, the buffer stays on 4 KiB pages.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace tessera {

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  static constexpr size_t kHugePageBytes = size_t{2} << 20;
  // From this size on a buffer gets huge pages; rounding it up to whole 2 MiB pages then wastes at most 1/16 of it.
  static constexpr size_t kHugePageMinBytes = size_t{32} << 20;

  explicit AlignedBuffer(int64_t count) : size_(count) {
    if (count == 0) return;
    const bool huge = static_cast<size_t>(count) * sizeof(T) >= kHugePageMinBytes;
    const size_t alignment = huge ? kHugePageBytes : 64;
    const size_t bytes = (static_cast<size_t>(count) * sizeof(T) + alignment - 1) / alignment * alignment;
    void* memory = std::aligned_alloc(alignment, bytes);
    if (memory == nullptr) throw std::bad_alloc();
    if (huge) madvise(memory, bytes, MADV_HUGEPAGE);  // advice only: a refusal leaves 4 KiB pages
    std::memset(memory, 0, bytes);
    data_.reset(static_cast<T*>(memory));
  }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  int64_t size() const { return size_; }
  T& operator[](int64_t i) { return data_.get()[i]; }
  const T& operator[](int64_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  int64_t size_ = 0;
};

}  // namespace tessera

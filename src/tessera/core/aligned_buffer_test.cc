#include "tessera/core/aligned_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

namespace tessera {
namespace {

bool aligned_to(const void* p, size_t alignment) { return reinterpret_cast<std::uintptr_t>(p) % alignment == 0; }

// A buffer below kHugePageMinBytes: 64-byte aligned, zero-filled, its size as asked.
TEST(AlignedBuffer, SmallBuffersAreCacheLineAlignedAndZero) {
  AlignedBuffer<float> b(1000);
  EXPECT_EQ(b.size(), 1000);
  EXPECT_TRUE(aligned_to(b.data(), 64));
  for (int64_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], 0.0f) << i;
}

// From kHugePageMinBytes on: aligned to a whole 2 MiB page (what lets the kernel back it with huge pages) and still
// zero-filled. Whether the kernel grants the huge pages is its choice (THP may be off), so that is not asserted.
TEST(AlignedBuffer, LargeBuffersAreHugePageAlignedAndZero) {
  const int64_t count = static_cast<int64_t>(AlignedBuffer<uint16_t>::kHugePageMinBytes / sizeof(uint16_t)) + 3;
  AlignedBuffer<uint16_t> b(count);
  EXPECT_EQ(b.size(), count);
  EXPECT_TRUE(aligned_to(b.data(), AlignedBuffer<uint16_t>::kHugePageBytes));
  for (int64_t i = 0; i < count; i += 4093) ASSERT_EQ(b[i], 0) << i;
  EXPECT_EQ(b[count - 1], 0);
  b[count - 1] = 7;  // the last element lies inside the allocation
  AlignedBuffer<uint16_t> moved = std::move(b);
  EXPECT_EQ(moved[count - 1], 7);
  EXPECT_EQ(b.data(), nullptr);
}

}  // namespace
}  // namespace tessera

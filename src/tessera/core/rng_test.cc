#include "tessera/core/rng.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tessera {
namespace {

// Known-answer vectors from the Random123 distribution (kat_vectors, philox4x32_10).
TEST(Philox, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(philox4x32({0, 0}, {0, 0, 0, 0}),
            (std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(philox4x32({0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}),
            (std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(philox4x32({0xa4093822u, 0x299f31d0u}, {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}),
            (std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(RngStream, SameKeySameNumbersDifferentIndexDifferentNumbers) {
  RngStream a(42, RngPurpose::kTest, 7), b(42, RngPurpose::kTest, 7), c(42, RngPurpose::kTest, 8);
  RngStream d(42, RngPurpose::kData, 7);
  int same_c = 0, same_d = 0;
  for (int i = 0; i < 100; ++i) {
    const uint32_t x = a.next_u32();
    EXPECT_EQ(x, b.next_u32());
    same_c += x == c.next_u32();
    same_d += x == d.next_u32();
  }
  EXPECT_LT(same_c, 3);
  EXPECT_LT(same_d, 3);
}

TEST(RngStream, NormalHasUnitMomentsAndBelowStaysInRange) {
  RngStream rng(1, RngPurpose::kTest, 0);
  double sum = 0, sum_sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.normal();
    sum += x;
    sum_sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / n, 1.0, 0.02);
  int counts[5] = {};
  for (int i = 0; i < 50000; ++i) {
    const uint64_t k = rng.below(5);
    ASSERT_LT(k, 5u);
    ++counts[k];
  }
  for (int k : counts) EXPECT_NEAR(k, 10000, 500);
}

}  // namespace
}  // namespace tessera

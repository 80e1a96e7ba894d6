#include "tessera/core/tensor_slice.h"

#include <gtest/gtest.h>

#include <numeric>

namespace tessera {
namespace {

TEST(TensorSlice, FusedQkvRowsMapToEachBlock) {
  // [3C, C] with C = 4, tp rank 1 of 2: local rows 0–1 are q rows 2–3, 2–3 are k rows 6–7, 4–5 are v rows 10–11.
  const TensorSlice slice = TensorSlice::split({12, 4}, 0, 1, 2, 3);
  EXPECT_EQ(slice.local_shape(), (std::vector<int64_t>{6, 4}));
  const auto pieces = slice.to_global({1, 0}, {4, 4});  // local rows 1..4 cross two block boundaries
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].global_offset, (std::vector<int64_t>{3, 0}));
  EXPECT_EQ(pieces[0].shape, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(pieces[1].global_offset, (std::vector<int64_t>{6, 0}));
  EXPECT_EQ(pieces[1].shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(pieces[1].local_flat, 4);
  EXPECT_EQ(pieces[2].global_offset, (std::vector<int64_t>{10, 0}));
  EXPECT_EQ(pieces[2].local_flat, 12);
}

TEST(TensorSlice, ColumnsAndCopiesRoundTrip) {
  std::vector<float> global(6 * 8);
  std::iota(global.begin(), global.end(), 0.0f);
  const TensorSlice columns = TensorSlice::split({6, 8}, 1, 1, 4);  // columns 2–3
  std::vector<float> local(6 * 2);
  copy_global_to_local(columns, global.data(), local.data());
  EXPECT_EQ(local[0], 2.0f);
  EXPECT_EQ(local[1], 3.0f);
  EXPECT_EQ(local[2], 10.0f);
  std::vector<float> back(global.size(), -1.0f);
  copy_local_to_global(columns, local.data(), back.data());
  EXPECT_EQ(back[2], 2.0f);
  EXPECT_EQ(back[11], 11.0f);
  EXPECT_EQ(back[0], -1.0f);  // not this rank's
  const auto pieces = columns.to_global({3, 1}, {1, 1});
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].global_offset, (std::vector<int64_t>{3, 3}));
  EXPECT_FALSE(TensorSlice::whole({6, 8}).is_split());
}

// local_index agrees with the box mapping for every element: each held element once, the others −1.
TEST(TensorSlice, LocalIndexOfEveryGlobalElement) {
  std::vector<float> global(12 * 4);
  std::iota(global.begin(), global.end(), 0.0f);
  for (const TensorSlice& slice : {TensorSlice::split({12, 4}, 0, 1, 2, 3), TensorSlice::split({12, 4}, 1, 0, 2),
                                   TensorSlice::split({12}, 0, 2, 3), TensorSlice::whole({12, 4})}) {
    const int64_t local_numel = shape_numel(slice.local_shape());
    std::vector<float> local(static_cast<size_t>(local_numel));
    copy_global_to_local(slice, global.data(), local.data());
    int64_t held = 0;
    for (int64_t g = 0; g < shape_numel(slice.global_shape); ++g) {
      const int64_t l = slice.local_index(g);
      if (l < 0) continue;
      ++held;
      ASSERT_LT(l, local_numel);
      EXPECT_EQ(local[static_cast<size_t>(l)], global[static_cast<size_t>(g)]) << "global " << g;
    }
    EXPECT_EQ(held, local_numel);
  }
}

}  // namespace
}  // namespace tessera

// The ZeRO memory formulas (zero_memory.h), stage by stage, and the peers' shared-memory pages a rank maps.
#include "tessera/parallel/zero_memory.h"

#include <gtest/gtest.h>

#include "tessera/parallel/parallel_test_util.h"

namespace tessera {
namespace {

TEST(ZeroMemory, EachStageShardsWhatItShouldAndShmPeersAddThePagesTouched) {
  const ParameterLayout layout(tiny_test_spec(), 4);
  const double psi = static_cast<double>(layout.total_numel());
  const MemoryReport base;  // the unsharded model's activations and workspace do not matter here
  const auto report = [&](int stage, bool shm) {
    return zero_memory_report(base, layout, 4, stage, /*overlap=*/false, /*micro_batches=*/1, MatmulPrecision::kFp32, shm);
  };
  EXPECT_DOUBLE_EQ(report(0, false).optimizer, 8.0 * psi);
  EXPECT_DOUBLE_EQ(report(1, false).optimizer, 8.0 * psi / 4);
  EXPECT_DOUBLE_EQ(report(1, false).gradients, 4.0 * psi);
  EXPECT_DOUBLE_EQ(report(2, false).gradients, 4.0 * psi / 4 + 4.0 * psi);  // no overlap: every unit in flight
  EXPECT_DOUBLE_EQ(report(3, false).optimizer, 12.0 * psi / 4);
  for (int stage = 0; stage <= 3; ++stage) EXPECT_EQ(report(stage, false).peer_buffers, 0.0) << "stage " << stage;
  // On shm, a rank touches all of each of 3 peers' all-reduced gradients (stages 0–1: claimed chunks anywhere)
  // and slice r (a quarter) of their reduce-scattered gradients (stage 2) and all-gathered parameters (stages
  // 1–2); stage 3 releases its gathered units.
  const double whole = 4.0 * psi * 3, slices = whole / 4;
  EXPECT_DOUBLE_EQ(report(0, true).peer_buffers, whole);
  EXPECT_DOUBLE_EQ(report(1, true).peer_buffers, whole + slices);
  EXPECT_DOUBLE_EQ(report(2, true).peer_buffers, 2 * slices);
  EXPECT_DOUBLE_EQ(report(3, true).peer_buffers, 0.0);
  EXPECT_DOUBLE_EQ(report(1, true).total() - report(1, false).total(), whole + slices);
  // One rank has no peers.
  EXPECT_EQ(zero_memory_report(base, layout, 1, 1, false, 1, MatmulPrecision::kFp32, true).peer_buffers, 0.0);
}

}  // namespace
}  // namespace tessera

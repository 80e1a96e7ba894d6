// A rank's held state (DataParallel::save_held_state, what an in-memory checkpoint keeps of each rank) restores
// the same rank of the same layout bit-identically, whatever the rank holds: whole replicas (ZeRO-0), optimizer
// pieces (ZeRO-1), parameter pieces (ZeRO-3), tp slices, pipeline stages with the embeddings' replica.
#include "tessera/parallel/grid_test_runner.h"

namespace tessera {
namespace {

using grid_test::check_held_state_restore;

TEST(HeldState, RestoresEveryLayoutBitIdentically) {
  check_held_state_restore({.dp = 2, .zero_stage = 0});
  check_held_state_restore({.dp = 2, .zero_stage = 1});
  check_held_state_restore({.dp = 2, .zero_stage = 3});
  check_held_state_restore({.tp = 2});
  check_held_state_restore({.dp = 2, .pp = 2, .zero_stage = 3, .micro_batch = 1});
}

}  // namespace
}  // namespace tessera

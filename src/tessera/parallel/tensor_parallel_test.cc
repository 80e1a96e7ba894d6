// Tensor (and sequence) parallelism against the single-rank oracle, on thread ranks: tp 2 alone and with
// sequence parallelism, recomputation, ZeRO, pipelines and zero-bubble schedules, up to dp2 × tp2 × pp2; the
// global-offset checkpoints resharded between tp layouts; the collective failure that must stop an update.
#include "tessera/parallel/tensor_parallel.h"

#include <gtest/gtest.h>

#include "tessera/parallel/grid_test_runner.h"

namespace tessera {
namespace {

using grid_test::check_resharding;
using grid_test::expect_same_training;
using grid_test::kTestComm;
using grid_test::Layout;
using grid_test::run;

TEST(TensorParallel, TrainsLikeOneRank) {
  const auto oracle = run({.micro_batch = 2}, 3);
  ASSERT_EQ(oracle->losses.size(), 3u);
  EXPECT_LT(oracle->losses[2], oracle->losses[0]);  // it learns
  for (const Layout& layout : std::vector<Layout>{
           {.tp = 2},
           {.tp = 2, .sequence_parallel = true},
           {.tp = 2, .micro_batch = 8},  // one micro-batch: the head's chunks and the loss exchange over 64 tokens
           {.tp = 2, .recompute = Recompute::kFull},                                // regions rerun in backward
           {.tp = 2, .recompute = Recompute::kSelective, .sequence_parallel = true},
           {.dp = 2, .tp = 2, .zero_stage = 1, .micro_batch = 1},
           {.dp = 2, .tp = 2, .zero_stage = 2, .micro_batch = 2, .sequence_parallel = true},
           {.dp = 2, .tp = 2, .zero_stage = 3, .micro_batch = 1},
       }) {
    expect_same_training(*oracle, *run(layout, 3), layout.name());
  }
}

TEST(TensorParallel, CombinesWithPipelines) {
  const auto oracle = run({.micro_batch = 2}, 3);
  for (const Layout& layout : std::vector<Layout>{
           {.pp = 2, .tp = 2, .schedule = PipelineScheduleKind::kOneFOneB},
           {.pp = 2, .tp = 2, .schedule = PipelineScheduleKind::kGPipe, .sequence_parallel = true},
           {.pp = 2, .tp = 2, .schedule = PipelineScheduleKind::kZeroBubbleH1, .sequence_parallel = true},
           {.dp = 2, .pp = 2, .tp = 2, .zero_stage = 1, .micro_batch = 1},
       }) {
    expect_same_training(*oracle, *run(layout, 3), layout.name());
  }
}

// Saved under one layout after 2 steps, resumed under another for a third: the same as 3 steps straight.
TEST(TensorParallel, CheckpointReshardsAcrossTensorSlices) {
  const auto straight = run({.micro_batch = 2}, 3);
  const std::vector<std::pair<Layout, Layout>> cases = {
      {{.tp = 2}, {}},
      {{}, {.tp = 2, .sequence_parallel = true}},
      {{.dp = 2, .tp = 2, .zero_stage = 2, .micro_batch = 1}, {.pp = 3}},
      {{.pp = 2, .tp = 2}, {.dp = 2, .tp = 2, .zero_stage = 1, .micro_batch = 1}},
  };
  for (const auto& [saved, loaded] : cases) check_resharding(saved, loaded, *straight);
}

// The model saves global boxes by itself too (GptModel::save_state, used by export): two tp slices tile the
// whole model, and a whole model loads them.
TEST(TensorParallel, ModelStateIsGlobal) {
  const ModelSpec spec = grid_test::spec();
  auto kernels = make_kernel_backend("ref", {});
  ASSERT_TRUE(kernels.ok());
  BoxStore store;
  ASSERT_TRUE(run_on_thread_ranks(2, [&](Communicator& tp) {
                TensorParallel group(tp);
                GptModel model(spec, **kernels, 1, grid_test::kSeq,
                               {.tensor_parallel = {.rank = tp.rank(), .size = 2}, .tensor_group = &group});
                model.init_parameters(7);
                model.save_state(store);
              }, kTestComm).ok());
  ASSERT_TRUE(store.complete());
  GptModel whole(spec, **kernels, 1, grid_test::kSeq), fresh(spec, **kernels, 1, grid_test::kSeq);
  whole.init_parameters(7);
  ASSERT_TRUE(fresh.load_state(store).ok());
  EXPECT_EQ(std::vector<float>(fresh.params(), fresh.params() + fresh.num_params()),
            std::vector<float>(whole.params(), whole.params() + whole.num_params()));
}

// A tp peer that never arrives: the collective fails past the deadline, the model runs on to the end of its
// forward, and status() names the failure so that nothing is updated from it.
TEST(TensorParallel, AFailedCollectiveIsRecordedNotHung) {
  const ModelSpec spec = grid_test::spec();
  auto kernels = make_kernel_backend("ref", {});
  ASSERT_TRUE(kernels.ok());
  const CommOptions short_deadline{.name = "tp", .deadline = std::chrono::milliseconds(300)};
  const Status status = run_on_thread_ranks(2, [&](Communicator& tp) {
    if (tp.rank() == 1) return;  // the peer that never arrives
    TensorParallel group(tp);
    GptModel model(spec, **kernels, 1, grid_test::kSeq,
                   {.tensor_parallel = {.rank = 0, .size = 2}, .tensor_group = &group});
    model.init_parameters(7);
    std::vector<int32_t> in(grid_test::kSeq), out(grid_test::kSeq);
    test_sample_tokens(0, 1, grid_test::kSeq, in.data(), out.data());
    (void)model.forward(in.data(), out.data());
    ASSERT_FALSE(group.status().ok());
    EXPECT_NE(group.status().message().find("tensor parallelism"), std::string::npos) << group.status().message();
    EXPECT_GE(group.take_step_stats().collectives, 1);
  }, short_deadline);
  EXPECT_TRUE(status.ok()) << status.message();
}

}  // namespace
}  // namespace tessera

// PipelineParallel against the single-rank oracle: pipeline (and data-parallel) ranks as threads (local
// backend), GPipe and 1F1B, even and uneven stages, dp × pp with ZeRO 0–2; checkpoints saved under one
// layout and loaded under another; the stage rule and bad layouts.
#include "tessera/parallel/pipeline_parallel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>

#include "tessera/parallel/grid_test_runner.h"

namespace tessera {
namespace {

// The shared dp × tp × pp runner (grid_test_runner.h), here with tp = 1.
using PipeLayout = grid_test::Layout;
using grid_test::check_resharding;
using grid_test::expect_same_training;
using grid_test::kTestComm;
using grid_test::run;
ModelSpec pipe_spec() { return grid_test::spec(); }

TEST(PipelineStages, SplitLayersUnevenlyAndRefuseEmptyStages) {
  auto even = pipeline_stage_layers(12, 4);
  ASSERT_TRUE(even.ok());
  EXPECT_EQ(stage_sizes_text(*even), "3+3+3+3");
  auto uneven = pipeline_stage_layers(126, 16);  // Llama 3 405B's layers over 16 stages
  ASSERT_TRUE(uneven.ok());
  EXPECT_EQ(stage_sizes_text(*uneven), "7+8+8+8+8+8+8+8+8+8+8+8+8+8+7+8");
  EXPECT_EQ(uneven->back().end, 126);
  for (size_t s = 1; s < uneven->size(); ++s) EXPECT_EQ((*uneven)[s].first, (*uneven)[s - 1].end);
  EXPECT_EQ(stage_sizes_text(*pipeline_stage_layers(3, 2)), "2+1");
  // The LM head is worth h blocks on the last stage: the split balances the slowest stage.
  EXPECT_EQ(stage_sizes_text(*pipeline_stage_layers(6, 2, 10.3)), "5+1");  // configs/small.toml's h
  EXPECT_EQ(stage_sizes_text(*pipeline_stage_layers(8, 3, 1.5)), "3+3+2");
  EXPECT_EQ(stage_sizes_text(*pipeline_stage_layers(8, 3, 0.0)), "2+3+3");
  ModelSpec small{.n_layer = 6, .n_head = 6, .n_embd = 384, .seq_len = 256, .vocab_size = 50257};
  EXPECT_NEAR(head_cost_in_layers(small), 115792128.0 / 11206656.0, 1e-9);  // 6·C·V over a block's 3·(2·(4C²+2CF)+2TC)
  EXPECT_EQ(stage_sizes_text(*pipeline_stage_layers(small, 2)), "5+1");
  EXPECT_EQ(stage_sizes_text(*pipeline_stage_layers(pipe_spec(), 2)), "2+1");
  auto too_many = pipeline_stage_layers(3, 4);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("parallel.pp: 4 pipeline stage(s) over model.n_layer = 3"), std::string::npos)
      << too_many.status().message();
}

TEST(PipelineParallel, SchedulesTrainLikeOneRank) {
  const auto oracle = run({.dp = 1, .pp = 1, .micro_batch = 2}, 3);
  ASSERT_EQ(oracle->losses.size(), 3u);
  EXPECT_LT(oracle->losses[2], oracle->losses[0]);  // it learns
  for (const PipeLayout& layout : std::vector<PipeLayout>{
           {.pp = 2, .schedule = PipelineScheduleKind::kGPipe},
           {.pp = 2, .schedule = PipelineScheduleKind::kOneFOneB},
           {.pp = 3, .schedule = PipelineScheduleKind::kOneFOneB},
           {.pp = 3, .schedule = PipelineScheduleKind::kGPipe, .micro_batch = 1},
           {.pp = 2, .schedule = PipelineScheduleKind::kOneFOneB, .micro_batch = 8},  // one micro-batch
           {.pp = 2, .schedule = PipelineScheduleKind::kZeroBubbleH1},
           {.pp = 3, .schedule = PipelineScheduleKind::kZeroBubbleH1, .micro_batch = 1},
           {.pp = 1, .schedule = PipelineScheduleKind::kZeroBubbleH1},
           // Recomputation reruns a block from the slot's kept input (shared recompute buffers across slots).
           {.pp = 2, .schedule = PipelineScheduleKind::kGPipe, .recompute = Recompute::kFull},
           {.pp = 3, .schedule = PipelineScheduleKind::kOneFOneB, .micro_batch = 1, .recompute = Recompute::kSelective},
       }) {
    const auto got = run(layout, 3);
    expect_same_training(*oracle, *got, layout.name());
    for (double bubble : got->bubbles) {
      EXPECT_GE(bubble, 0.0) << layout.name();
      EXPECT_LT(bubble, 1.0) << layout.name();
    }
  }
}

TEST(PipelineParallel, DataAndPipelineParallelTrainLikeOneRank) {
  const auto oracle = run({.dp = 1, .pp = 1, .micro_batch = 2}, 3);
  for (int zero = 0; zero <= 2; ++zero) {
    for (const auto schedule : {PipelineScheduleKind::kOneFOneB, PipelineScheduleKind::kZeroBubbleH1}) {
      const PipeLayout layout{.dp = 2, .pp = 2, .zero_stage = zero, .schedule = schedule, .micro_batch = 1};
      expect_same_training(*oracle, *run(layout, 3), layout.name());
    }
  }
  // ZeRO-3 under a pipeline: each stage gathers its own units just in time, for every micro-batch in flight (zb-h1's
  // deferred weight pass reads no parameter, so it runs while they are released).
  for (const PipeLayout& layout : std::vector<PipeLayout>{
           {.dp = 2, .pp = 2, .zero_stage = 3, .schedule = PipelineScheduleKind::kOneFOneB, .micro_batch = 1},
           {.dp = 2, .pp = 2, .zero_stage = 3, .schedule = PipelineScheduleKind::kGPipe, .micro_batch = 2},
           {.dp = 2, .pp = 3, .zero_stage = 3, .micro_batch = 1},
           {.dp = 2, .pp = 2, .zero_stage = 3, .schedule = PipelineScheduleKind::kZeroBubbleH1, .micro_batch = 1},
       }) {
    expect_same_training(*oracle, *run(layout, 3), layout.name());
  }
}

// Interleaved 1F1B: each rank runs vpp chunks of layers (rank r: virtual stages r, r + pp, …), the last rank's
// chunk c handing on to rank 0's chunk c + 1.
TEST(PipelineParallel, InterleavedTrainsLikeOneRank) {
  for (const int64_t layers : {4, 8}) {
    const auto oracle = run({.micro_batch = 2, .n_layer = layers}, 3);
    std::vector<PipeLayout> layouts = {{.pp = 2, .vpp = 2, .micro_batch = 2, .n_layer = layers},
                                       {.pp = 2, .vpp = 2, .micro_batch = 1, .recompute = Recompute::kSelective, .n_layer = layers},
                                       {.dp = 2, .pp = 2, .vpp = 2, .zero_stage = 1, .micro_batch = 1, .n_layer = layers},
                                       {.dp = 2, .pp = 2, .vpp = 2, .zero_stage = 2, .micro_batch = 2, .n_layer = layers},
                                       {.dp = 2, .pp = 2, .vpp = 2, .zero_stage = 3, .micro_batch = 1, .n_layer = layers},
                                       {.pp = 2, .tp = 2, .vpp = 2, .micro_batch = 2, .sequence_parallel = true, .n_layer = layers}};
    if (layers == 8) {
      layouts.push_back({.pp = 4, .vpp = 2, .micro_batch = 1, .n_layer = layers});
      layouts.push_back({.pp = 2, .vpp = 4, .micro_batch = 2, .n_layer = layers});
    }
    for (const PipeLayout& layout : layouts) {
      const auto got = run(layout, 3);
      expect_same_training(*oracle, *got, layout.name());
      for (double bubble : got->bubbles) EXPECT_LT(bubble, 1.0) << layout.name();
    }
  }
}

TEST(PipelineParallel, InterleavedRanksHoldEveryPpthStage) {
  ModelSpec eight = pipe_spec();
  eight.n_layer = 8;
  const Status status = run_on_thread_ranks(2, [&](Communicator& world) {
    auto pipe = PipelineParallel::create(eight, world, PipelineScheduleKind::kInterleaved, 4, 2);
    ASSERT_TRUE(pipe.ok()) << pipe.status().message();
    // 8 layers in 4 virtual stages of 2: rank 0 runs stages 0 and 2, rank 1 stages 1 and 3.
    const std::vector<LayerRange> expected = world.rank() == 0 ? std::vector<LayerRange>{{0, 2}, {4, 6}}
                                                               : std::vector<LayerRange>{{2, 4}, {6, 8}};
    EXPECT_EQ((*pipe)->stage().chunks, expected);
    EXPECT_EQ((*pipe)->stage().encoder, world.rank() == 0);
    EXPECT_EQ((*pipe)->stage().head, world.rank() == 1);
    const ParameterLayout layout(eight, 1, (*pipe)->stage());
    EXPECT_EQ(layout.num_layers(), 4);
    // Units: the embeddings (rank 0's, or rank 1's replica for the tied head), then the blocks chunk by chunk.
    EXPECT_EQ(layout.block_unit(expected[1].first), 3);
  }, kTestComm);
  ASSERT_TRUE(status.ok()) << status.message();
}

TEST(PipelineParallel, SlotsFollowTheSchedule) {
  // Stage 0 keeps pp micro-batches in flight under 1F1B, all of them under GPipe.
  EXPECT_EQ(run({.pp = 3, .schedule = PipelineScheduleKind::kOneFOneB, .micro_batch = 1}, 1)->slots_stage0, 3);
  EXPECT_EQ(run({.pp = 3, .schedule = PipelineScheduleKind::kGPipe, .micro_batch = 1}, 1)->slots_stage0, 8);
  EXPECT_EQ(run({.pp = 1, .micro_batch = 1}, 1)->slots_stage0, 1);
  // ZB-H1: stage 0 runs each W right after its I, so it holds what 1F1B holds.
  EXPECT_EQ(run({.pp = 3, .schedule = PipelineScheduleKind::kZeroBubbleH1, .micro_batch = 1}, 1)->slots_stage0, 3);
}

TEST(PipelineParallel, CheckpointReshardsAcrossStages) {
  const auto straight = run({.dp = 1, .pp = 1, .micro_batch = 2}, 3);
  for (const auto& [saved, loaded] : std::vector<std::pair<PipeLayout, PipeLayout>>{
           {{.pp = 2}, {.pp = 1}},
           {{.pp = 1}, {.pp = 3, .schedule = PipelineScheduleKind::kGPipe}},
           {{.dp = 2, .pp = 2, .zero_stage = 1, .micro_batch = 1}, {.pp = 3}},
           {{.pp = 3}, {.dp = 2, .pp = 2, .zero_stage = 2, .micro_batch = 2}},
           {{.pp = 2, .schedule = PipelineScheduleKind::kZeroBubbleH1}, {.pp = 1}},
       }) {
    check_resharding(saved, loaded, *straight);
  }
  // Interleaved chunks (rank 0 holds layers 0 and 2 of 4) to contiguous stages and back.
  const auto straight4 = run({.micro_batch = 2, .n_layer = 4}, 3);
  check_resharding({.pp = 2, .vpp = 2, .n_layer = 4}, {.pp = 2, .n_layer = 4}, *straight4);
  check_resharding({.dp = 2, .pp = 2, .zero_stage = 2, .micro_batch = 1, .n_layer = 4}, {.pp = 2, .vpp = 2, .n_layer = 4},
                   *straight4);
}

TEST(PipelineParallel, RefusesWhatItCannotRun) {
  Status status = run_on_thread_ranks(
      2, [&](Communicator& world) {
        // Interleaving needs its chunks to split the layers evenly (3 layers over 2 × 2 chunks do not).
        auto uneven = PipelineParallel::create(pipe_spec(), world, PipelineScheduleKind::kInterleaved, 4, 2);
        ASSERT_FALSE(uneven.ok());
        EXPECT_NE(uneven.status().message().find("n_layer (3) must split evenly into pp*vpp = 2*2 = 4 chunks"),
                  std::string::npos) << uneven.status().message();
        // ZB-H1 fills its bubble with weight gradients only with at least pp micro-batches.
        auto zb = PipelineParallel::create(pipe_spec(), world, PipelineScheduleKind::kZeroBubbleH1, 1);
        ASSERT_FALSE(zb.ok());
        EXPECT_NE(zb.status().message().find("pipeline zb-h1: needs micro-batches (1) >= pp (2)"), std::string::npos)
            << zb.status().message();
      }, kTestComm);
  ASSERT_TRUE(status.ok());
  status = run_on_thread_ranks(
      1, [&](Communicator& world) {
        auto alone = PipelineParallel::create(pipe_spec(), world, PipelineScheduleKind::kInterleaved, 4, 3);
        ASSERT_FALSE(alone.ok());
        EXPECT_NE(alone.status().message().find("interleaving needs several pipeline ranks"), std::string::npos)
            << alone.status().message();
      }, kTestComm);
  ASSERT_TRUE(status.ok());
  ModelSpec one_layer = pipe_spec();
  one_layer.n_layer = 1;
  status = run_on_thread_ranks(
      2, [&](Communicator& world) {
        auto too_deep = PipelineParallel::create(one_layer, world, PipelineScheduleKind::kOneFOneB, 4);
        ASSERT_FALSE(too_deep.ok());
        EXPECT_NE(too_deep.status().message().find("hint: parallel.pp ≤ 1"), std::string::npos)
            << too_deep.status().message();
      }, kTestComm);
  ASSERT_TRUE(status.ok());
}

}  // namespace
}  // namespace tessera

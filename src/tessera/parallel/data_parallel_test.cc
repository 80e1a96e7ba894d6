// DataParallel against the single-rank oracle: dp ranks as threads (local backend), every ZeRO stage, with
// and without overlap, odd dp (padding) and several micro-batches; checkpoints saved under one layout and
// loaded under another; a rank that never arrives.
#include "tessera/parallel/data_parallel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>

#include "tessera/comm/local_communicator.h"
#include "tessera/parallel/parallel_test_util.h"
#include "tessera/core/flat_range.h"
#include "tessera/parallel/rank_agreement.h"

namespace tessera {
namespace {

constexpr int64_t kSeq = 8;
constexpr int64_t kGlobalBatch = 6;  // sequences per step over all ranks

// Samples [first, first + count), sized into in and out.
void sample_tokens(int64_t first, int64_t count, std::vector<int32_t>& in, std::vector<int32_t>& out) {
  in.resize(static_cast<size_t>(count * kSeq));
  out.resize(in.size());
  test_sample_tokens(first, count, kSeq, in.data(), out.data());
}

// A rank that fails an assertion returns early; its peers then fail within seconds instead of hanging.
const CommOptions kTestComm{.name = "dp", .deadline = std::chrono::seconds(60)};

struct Layout {
  int dp = 1;
  int zero_stage = 0;
  bool overlap = true;
  int64_t micro_batch = kGlobalBatch;  // per rank; global / (micro · dp) micro-batches
};

struct RunResult {
  std::vector<double> losses;  // per step, mean over the global batch
  std::vector<float> params;   // flat, after the last step (rank 0's gather)
  std::vector<double> norms;
};

// One rank's training through the engine, as Trainer::step drives it. Saves into `save` after
// `save_after` steps and/or loads from `load` first (resuming at `first_step`).
void train_rank(Communicator& comm, const Layout& layout, int steps, RunResult* result, BoxStore* load = nullptr,
                int first_step = 0, BoxStore* save = nullptr, int save_after = -1) {
  auto kernels = make_kernel_backend("ref", {});
  ASSERT_TRUE(kernels.ok());
  const ModelSpec spec = tiny_test_spec();
  auto engine = DataParallel::create(spec, comm, **kernels,
                                     {.zero_stage = layout.zero_stage, .overlap = layout.overlap,
                                      .adamw = {.weight_decay = 0.1f}});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  DataParallel& dp = **engine;
  GptModel model(spec, **kernels, layout.micro_batch, kSeq, dp.model_options({}), dp.storage());
  dp.attach(model);
  dp.init_parameters(1234);
  if (load != nullptr) {
    const Status status = dp.load_state(*load);
    ASSERT_TRUE(status.ok()) << status.message();
  }
  const int64_t micro_batches = kGlobalBatch / (layout.micro_batch * layout.dp);
  std::vector<int32_t> in, out;
  for (int step = first_step; step < first_step + steps; ++step) {
    dp.begin_step(micro_batches);
    double loss = 0;
    for (int64_t m = 0; m < micro_batches; ++m) {
      dp.begin_micro_batch(m);
      sample_tokens((step * micro_batches + m) * layout.micro_batch * layout.dp + comm.rank() * layout.micro_batch,
                    layout.micro_batch, in, out);
      loss += model.forward(in.data(), out.data()) / static_cast<double>(micro_batches);
      model.backward(dp.loss_scale(micro_batches));
    }
    ASSERT_TRUE(dp.finish_gradients().ok());
    auto norm = dp.clip_gradients(0.5);
    ASSERT_TRUE(norm.ok());
    ASSERT_TRUE(comm.all_reduce(&loss, 1, ReduceOp::kSum).ok());
    ASSERT_TRUE(dp.update(1e-2f).ok());
    if (comm.rank() == 0) {
      result->losses.push_back(loss / comm.size());
      result->norms.push_back(*norm);
    }
    if (save != nullptr && step + 1 == save_after) dp.save_state(*save);
  }
  std::vector<float> params(static_cast<size_t>(dp.layout().total_numel()));
  ASSERT_TRUE(dp.gather_parameters(params.data()).ok());
  if (comm.rank() == 0) {
    // Unpadded, in tensor order: comparable across dp sizes (whose padding differs).
    for (const ParamTensor& t : dp.layout().tensors()) {
      result->params.insert(result->params.end(), params.begin() + t.offset, params.begin() + t.offset + t.numel);
    }
  }
}

RunResult run(const Layout& layout, int steps) {
  RunResult result;
  const Status status = run_on_thread_ranks(
      layout.dp, [&](Communicator& comm) { train_rank(comm, layout, steps, &result); }, kTestComm);
  EXPECT_TRUE(status.ok()) << status.message();
  return result;
}

void expect_same_training(const RunResult& expected, const RunResult& got, const std::string& what) {
  ASSERT_EQ(expected.losses.size(), got.losses.size()) << what;
  for (size_t i = 0; i < expected.losses.size(); ++i) {
    EXPECT_NEAR(got.losses[i], expected.losses[i], 1e-5 * std::abs(expected.losses[i])) << what << " step " << i + 1;
    EXPECT_NEAR(got.norms[i], expected.norms[i], 1e-4 * expected.norms[i]) << what << " norm, step " << i + 1;
  }
  ASSERT_EQ(expected.params.size(), got.params.size()) << what;
  double worst = 0;
  for (size_t i = 0; i < expected.params.size(); ++i) worst = std::max(worst, double{std::abs(got.params[i] - expected.params[i])});
  EXPECT_LT(worst, 2e-5) << what << ": largest parameter difference";
}

TEST(FlatRange, BoxesTileTheRangeInOrder) {
  const std::vector<int64_t> shape{3, 4, 5};
  for (int64_t begin = 0; begin < 60; begin += 7) {
    for (const int64_t count : std::vector<int64_t>{0, 1, 4, 13, 60 - begin}) {
      if (begin + count > 60) continue;
      int64_t covered = 0;
      for (const FlatBox& box : flat_range_boxes(shape, begin, count)) {
        EXPECT_EQ(box.flat_begin, covered);
        // The box's first element is at flat index begin + flat_begin.
        const int64_t first = (box.offset[0] * 4 + box.offset[1]) * 5 + box.offset[2];
        EXPECT_EQ(first, begin + box.flat_begin);
        covered += box.shape[0] * box.shape[1] * box.shape[2];
      }
      EXPECT_EQ(covered, count) << "begin " << begin;
    }
  }
  EXPECT_LE(flat_range_boxes(shape, 3, 50).size(), 5u);  // at most 2·rank − 1
}

TEST(ShardLayout, PiecesPartitionEveryUnit) {
  for (int dp : {1, 2, 3}) {
    const ParameterLayout layout(tiny_test_spec(), ShardLayout::unit_alignment(dp));
    int64_t owned = 0;
    for (int r = 0; r < dp; ++r) {
      const ShardLayout shards(layout, dp, r);
      EXPECT_EQ(shards.shard_numel() * dp, layout.total_numel());
      for (const OwnedTensorPart& part : shards.owned_parts()) owned += part.count;
    }
    EXPECT_EQ(owned, tiny_test_spec().num_params()) << "dp " << dp;  // every element owned once, padding by no one
  }
}

TEST(DataParallel, EveryStageTrainsLikeOneRank) {
  const RunResult oracle = run({.dp = 1, .zero_stage = 0, .micro_batch = 3}, 3);
  ASSERT_EQ(oracle.losses.size(), 3u);
  EXPECT_LT(oracle.losses[2], oracle.losses[0]);  // it learns
  for (int stage = 0; stage <= 3; ++stage) {
    expect_same_training(oracle, run({.dp = 2, .zero_stage = stage, .micro_batch = 3}, 3),
                         "dp2 zero" + std::to_string(stage));
    expect_same_training(oracle, run({.dp = 3, .zero_stage = stage, .micro_batch = 1}, 3),
                         "dp3 (2 micro-batches) zero" + std::to_string(stage));
  }
  expect_same_training(oracle, run({.dp = 2, .zero_stage = 2, .overlap = false, .micro_batch = 3}, 3), "dp2 zero2 no overlap");
  expect_same_training(oracle, run({.dp = 2, .zero_stage = 3, .overlap = false, .micro_batch = 1}, 3),
                       "dp2 zero3 no overlap, 3 micro-batches");
}

TEST(DataParallel, ZeroStageOnOneRankIsTheSameTraining) {
  const RunResult oracle = run({.dp = 1, .zero_stage = 0, .micro_batch = 3}, 2);
  for (int stage = 1; stage <= 3; ++stage) {
    expect_same_training(oracle, run({.dp = 1, .zero_stage = stage, .micro_batch = 3}, 2), "dp1 zero" + std::to_string(stage));
  }
}

// Saved under one layout after 2 steps, resumed under another for a third: the same as 3 steps straight.
TEST(DataParallel, CheckpointReshardsAcrossLayouts) {
  const RunResult straight = run({.dp = 1, .zero_stage = 0, .micro_batch = 3}, 3);
  const std::vector<std::pair<Layout, Layout>> cases = {
      {{.dp = 2, .zero_stage = 3, .micro_batch = 3}, {.dp = 3, .zero_stage = 1, .micro_batch = 2}},
      {{.dp = 3, .zero_stage = 2, .micro_batch = 1}, {.dp = 1, .zero_stage = 0, .micro_batch = 6}},
      {{.dp = 1, .zero_stage = 0, .micro_batch = 3}, {.dp = 2, .zero_stage = 3, .micro_batch = 1}},
      {{.dp = 2, .zero_stage = 0, .micro_batch = 3}, {.dp = 2, .zero_stage = 2, .micro_batch = 3}},
  };
  for (const auto& [saved, loaded] : cases) {
    const std::string what = "dp" + std::to_string(saved.dp) + " zero" + std::to_string(saved.zero_stage) + " → dp" +
                             std::to_string(loaded.dp) + " zero" + std::to_string(loaded.zero_stage);
    BoxStore store;
    RunResult first, second;
    ASSERT_TRUE(run_on_thread_ranks(saved.dp, [&](Communicator& comm) {
                  train_rank(comm, saved, 2, &first, nullptr, 0, &store, 2);
                }).ok());
    ASSERT_TRUE(store.complete()) << what << ": the ranks' pieces do not tile every tensor";
    ASSERT_TRUE(run_on_thread_ranks(loaded.dp, [&](Communicator& comm) {
                  train_rank(comm, loaded, 1, &second, &store, 2);
                }).ok());
    ASSERT_EQ(second.losses.size(), 1u);
    EXPECT_NEAR(second.losses[0], straight.losses[2], 1e-5 * straight.losses[2]) << what;
    double worst = 0;
    for (size_t i = 0; i < straight.params.size(); ++i) {
      worst = std::max(worst, double{std::abs(second.params[i] - straight.params[i])});
    }
    EXPECT_LT(worst, 2e-5) << what;
  }
}

// ZeRO-3 keeps no full copy: between steps the flat parameter buffer holds only what the update prefetched
// for the next forward (the embeddings and block 0), and the full-size gradients nothing.
TEST(DataParallel, Zero3ReleasesGatheredUnits) {
  ASSERT_TRUE(run_on_thread_ranks(2, [&](Communicator& comm) {
                auto kernels = make_kernel_backend("ref", {});
                auto engine = DataParallel::create(tiny_test_spec(), comm, **kernels, {.zero_stage = 3});
                ASSERT_TRUE(engine.ok());
                DataParallel& dp = **engine;
                GptModel model(tiny_test_spec(), **kernels, 3, kSeq, dp.model_options({}), dp.storage());
                dp.attach(model);
                dp.init_parameters(7);
                std::vector<int32_t> in, out;
                sample_tokens(comm.rank() * 3, 3, in, out);
                dp.begin_step(1);
                dp.begin_micro_batch(0);
                model.forward(in.data(), out.data());
                model.backward(dp.loss_scale(1));
                ASSERT_TRUE(dp.finish_gradients().ok());
                ASSERT_TRUE(dp.clip_gradients(0).ok());
                ASSERT_TRUE(dp.update(1e-3f).ok());
                ASSERT_TRUE(comm.barrier().ok());  // the prefetches have landed on every rank
                const float* params = dp.storage().params;
                const float* grads = dp.storage().grads;
                const int64_t prefetched_end = dp.layout().units()[2].begin;  // embeddings, block 0
                int64_t stray = 0, prefetched = 0;
                for (int64_t i = 0; i < dp.layout().total_numel(); ++i) {
                  stray += (grads[i] != 0) + (i >= prefetched_end && params[i] != 0);
                  prefetched += i < prefetched_end && params[i] != 0;
                }
                EXPECT_EQ(stray, 0) << "rank " << comm.rank();
                EXPECT_GT(prefetched, prefetched_end / 2) << "rank " << comm.rank();
                EXPECT_EQ(dp.shards().shard_numel() * 2, dp.layout().total_numel());
              }).ok());
}

// A rank that never reaches the step's reduction: the others get a deadline error naming it, not a hang.
TEST(DataParallel, MissingRankIsNamedWithinTheDeadline) {
  std::string error;
  const Status status = run_on_thread_ranks(
      2,
      [&](Communicator& comm) {
        auto kernels = make_kernel_backend("ref", {});
        auto engine = DataParallel::create(tiny_test_spec(), comm, **kernels, {.zero_stage = 2});
        ASSERT_TRUE(engine.ok());
        DataParallel& dp = **engine;
        GptModel model(tiny_test_spec(), **kernels, 3, kSeq, dp.model_options({}), dp.storage());
        dp.attach(model);
        dp.init_parameters(7);
        if (comm.rank() == 1) return;  // never trains
        std::vector<int32_t> in, out;
        sample_tokens(0, 3, in, out);
        dp.begin_step(1);
        model.forward(in.data(), out.data());
        model.backward(dp.loss_scale(1));
        const Status finished = dp.finish_gradients();
        EXPECT_FALSE(finished.ok());
        error = finished.message();
        EXPECT_FALSE(dp.update(1e-3f).ok());  // never updates from an incomplete reduction
      },
      CommOptions{.name = "dp", .deadline = std::chrono::milliseconds(300)});
  (void)status;
  EXPECT_NE(error.find("rank 1"), std::string::npos) << error;
  EXPECT_NE(error.find("dp"), std::string::npos) << error;
}

TEST(DataParallel, RefusesZeroStage4) {
  auto kernels = make_kernel_backend("ref", {});
  auto self = make_self_communicator();
  auto engine = DataParallel::create(tiny_test_spec(), *self, **kernels, {.zero_stage = 4});
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("parallel.zero_stage: expected 0, 1, 2 or 3, found 4"), std::string::npos);
}

TEST(RankAgreement, NamesTheFirstDifferingLine) {
  std::vector<std::string> messages(3);
  ASSERT_TRUE(run_on_thread_ranks(3, [&](Communicator& comm) {
                const std::string config = comm.rank() == 2 ? "[train]\nlr = 0.001\nsteps = 5\n" : "[train]\nlr = 0.0006\nsteps = 5\n";
                const Status status = check_ranks_agree(comm, config, "config");
                messages[static_cast<size_t>(comm.rank())] = status.message();
              }).ok());
  for (const std::string& m : messages) {
    EXPECT_EQ(m, messages[0]);  // the same line on every rank
    EXPECT_NE(m.find("rank 2 has `lr = 0.001` where rank 0 has `lr = 0.0006`"), std::string::npos) << m;
  }
  ASSERT_TRUE(run_on_thread_ranks(2, [&](Communicator& comm) {
                EXPECT_TRUE(check_ranks_agree(comm, "same", "config").ok());
              }).ok());
}

}  // namespace
}  // namespace tessera

// PipelineParallel against the single-rank oracle: pipeline (and data-parallel) ranks as threads (local
// backend), GPipe and 1F1B, even and uneven stages, dp × pp with ZeRO 0–2; checkpoints saved under one
// layout and loaded under another; the stage rule and bad layouts.
#include "tessera/parallel/pipeline_parallel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>

#include "tessera/comm/local_communicator.h"
#include "tessera/parallel/parallel_test_util.h"

namespace tessera {
namespace {

ModelSpec pipe_spec() {
  ModelSpec s;
  s.n_layer = 3;  // pp 2 splits it 2 + 1, pp 3 into 1 + 1 + 1
  s.n_head = 2;
  s.n_embd = 16;
  s.seq_len = 8;
  s.vocab_size = 40;
  return s;
}

constexpr int64_t kSeq = 8;
constexpr int64_t kGlobalBatch = 8;  // sequences per step over all dp ranks

const CommOptions kTestComm{.name = "world", .deadline = std::chrono::seconds(60)};

struct PipeLayout {
  int dp = 1, pp = 1;
  int zero_stage = 0;
  PipelineScheduleKind schedule = PipelineScheduleKind::kOneFOneB;
  int64_t micro_batch = 2;  // per dp rank; global / (micro · dp) micro-batches
  Recompute recompute = Recompute::kNone;
  std::string name() const {
    return "dp" + std::to_string(dp) + " pp" + std::to_string(pp) + " zero" + std::to_string(zero_stage) + " " +
           pipeline_schedule_kind_name(schedule) + " micro " + std::to_string(micro_batch) + " recompute " +
           recompute_name(recompute);
  }
};

struct RunResult {
  std::mutex mutex;
  std::vector<double> losses, norms, bubbles;  // per step (world rank 0's view)
  std::map<std::string, std::vector<float>> params;  // by tensor name, after the last step
  int64_t slots_stage0 = 0;
};

// One world rank's training, as Trainer::step drives it: rank = pp_index · dp + dp_index (spec/grid_order.h).
void train_rank(Communicator& world, const PipeLayout& layout, int steps, RunResult* result, BoxStore* load = nullptr,
                int first_step = 0, BoxStore* save = nullptr, int save_after = -1) {
  const int dp_index = world.rank() % layout.dp, pp_index = world.rank() / layout.dp;
  auto pp = world.split(dp_index, pp_index, "pp");
  auto dp = world.split(pp_index, dp_index, "dp");
  ASSERT_TRUE(pp.ok() && dp.ok());
  auto kernels = make_kernel_backend("ref", {});
  ASSERT_TRUE(kernels.ok());
  const ModelSpec spec = pipe_spec();
  const int64_t micro_batches = kGlobalBatch / (layout.micro_batch * layout.dp);
  auto pipeline = PipelineParallel::create(spec, **pp, layout.schedule, micro_batches);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status().message();
  PipelineParallel& pipe = **pipeline;
  auto engine = DataParallel::create(spec, **dp, **kernels,
                                     {.zero_stage = layout.zero_stage, .adamw = {.weight_decay = 0.1f},
                                      .stage = pipe.stage(), .model_parallel = layout.pp > 1 ? pp->get() : nullptr});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  DataParallel& data_parallel = **engine;
  GptModel model(spec, **kernels, layout.micro_batch, kSeq, data_parallel.model_options({.recompute = layout.recompute, .slots = pipe.slots(),
                                                              .split_backward = pipe.split_backward()}),
                 data_parallel.storage());
  data_parallel.attach(model);
  pipe.attach(model, data_parallel);
  data_parallel.init_parameters(1234);
  if (load != nullptr) {
    const Status status = data_parallel.load_state(*load);
    ASSERT_TRUE(status.ok()) << status.message();
  }
  if (world.rank() == 0) result->slots_stage0 = pipe.slots();
  for (int step = first_step; step < first_step + steps; ++step) {
    data_parallel.begin_step(micro_batches);
    const MicroBatchReader read = [&](int64_t micro, int32_t* in, int32_t* out) {
      test_sample_tokens((step * micro_batches + micro) * layout.micro_batch * layout.dp + dp_index * layout.micro_batch,
                         layout.micro_batch, kSeq, in, out);
    };
    auto stats = pipe.run_step(read, data_parallel.loss_scale(micro_batches));
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    ASSERT_TRUE(data_parallel.finish_gradients().ok());
    ASSERT_TRUE(pipe.sum_tied_gradients(data_parallel).ok());
    auto norm = data_parallel.clip_gradients(0.5);
    ASSERT_TRUE(norm.ok()) << norm.status().message();
    double loss = stats->loss;
    ASSERT_TRUE((*dp)->all_reduce(&loss, 1, ReduceOp::kSum).ok());
    ASSERT_TRUE(data_parallel.update(1e-2f).ok());
    if (world.rank() == 0) {
      result->losses.push_back(loss / layout.dp);
      result->norms.push_back(*norm);
      result->bubbles.push_back(stats->bubble_fraction);
    }
    if (save != nullptr && step + 1 == save_after) data_parallel.save_state(*save);
  }
  std::vector<float> params(static_cast<size_t>(data_parallel.layout().total_numel()));
  ASSERT_TRUE(data_parallel.gather_parameters(params.data()).ok());
  if (dp_index != 0) return;
  const ParameterLayout& l = data_parallel.layout();
  std::lock_guard lock(result->mutex);
  for (size_t i = 0; i < l.tensors().size(); ++i) {
    const ParamTensor& t = l.tensors()[i];
    std::vector<float> values(params.begin() + t.offset, params.begin() + t.offset + t.numel);
    if (l.embeddings_replica() && static_cast<int>(l.unit_of_tensor(i)) == l.embedding_unit()) {
      // The last stage's replica of the embeddings ends equal to the first stage's: checked once both are in.
      result->params["replica." + t.name] = std::move(values);
    } else {
      result->params[t.name] = std::move(values);
    }
  }
}

std::unique_ptr<RunResult> run(const PipeLayout& layout, int steps) {
  auto result = std::make_unique<RunResult>();
  const Status status = run_on_thread_ranks(
      layout.dp * layout.pp, [&](Communicator& world) { train_rank(world, layout, steps, result.get()); }, kTestComm);
  EXPECT_TRUE(status.ok()) << layout.name() << ": " << status.message();
  return result;
}

void expect_same_training(const RunResult& expected, const RunResult& got, const std::string& what) {
  ASSERT_EQ(expected.losses.size(), got.losses.size()) << what;
  for (size_t i = 0; i < expected.losses.size(); ++i) {
    EXPECT_NEAR(got.losses[i], expected.losses[i], 1e-5 * std::abs(expected.losses[i])) << what << " step " << i + 1;
    EXPECT_NEAR(got.norms[i], expected.norms[i], 1e-4 * expected.norms[i]) << what << " norm, step " << i + 1;
  }
  double worst = 0;
  for (const auto& [name, values] : expected.params) {
    auto it = got.params.find(name);
    ASSERT_NE(it, got.params.end()) << what << ": no stage holds " << name;
    ASSERT_EQ(it->second.size(), values.size()) << what << " " << name;
    for (size_t i = 0; i < values.size(); ++i) worst = std::max(worst, double{std::abs(it->second[i] - values[i])});
    // A replica (the last stage's embeddings) must have stayed identical to the original, bit for bit.
    if (auto replica = got.params.find("replica." + name); replica != got.params.end()) {
      EXPECT_EQ(replica->second, it->second) << what << ": the last stage's " << name << " drifted from the first's";
    }
  }
  EXPECT_EQ(got.params.size() - expected.params.size(), got.params.count("replica.wte") * 2) << what;
  EXPECT_LT(worst, 2e-5) << what << ": largest parameter difference";
}

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
}

TEST(PipelineParallel, SlotsFollowTheSchedule) {
  // Stage 0 keeps pp micro-batches in flight under 1F1B, all of them under GPipe.
  EXPECT_EQ(run({.pp = 3, .schedule = PipelineScheduleKind::kOneFOneB, .micro_batch = 1}, 1)->slots_stage0, 3);
  EXPECT_EQ(run({.pp = 3, .schedule = PipelineScheduleKind::kGPipe, .micro_batch = 1}, 1)->slots_stage0, 8);
  EXPECT_EQ(run({.pp = 1, .micro_batch = 1}, 1)->slots_stage0, 1);
  // ZB-H1: stage 0 runs each W right after its I, so it holds what 1F1B holds.
  EXPECT_EQ(run({.pp = 3, .schedule = PipelineScheduleKind::kZeroBubbleH1, .micro_batch = 1}, 1)->slots_stage0, 3);
}

// Saved under one layout after 2 steps, resumed under another for a third: the same as 3 steps straight.
TEST(PipelineParallel, CheckpointReshardsAcrossStages) {
  const auto straight = run({.dp = 1, .pp = 1, .micro_batch = 2}, 3);
  const std::vector<std::pair<PipeLayout, PipeLayout>> cases = {
      {{.pp = 2}, {.pp = 1}},
      {{.pp = 1}, {.pp = 3, .schedule = PipelineScheduleKind::kGPipe}},
      {{.dp = 2, .pp = 2, .zero_stage = 1, .micro_batch = 1}, {.pp = 3}},
      {{.pp = 3}, {.dp = 2, .pp = 2, .zero_stage = 2, .micro_batch = 2}},
      {{.pp = 2, .schedule = PipelineScheduleKind::kZeroBubbleH1}, {.pp = 1}},
  };
  for (const auto& [saved, loaded] : cases) {
    const std::string what = saved.name() + " → " + loaded.name();
    BoxStore store;
    RunResult first, second;
    ASSERT_TRUE(run_on_thread_ranks(saved.dp * saved.pp, [&](Communicator& world) {
                  train_rank(world, saved, 2, &first, nullptr, 0, &store, 2);
                }, kTestComm).ok());
    ASSERT_TRUE(store.complete()) << what << ": the ranks' pieces do not tile every tensor";
    ASSERT_TRUE(run_on_thread_ranks(loaded.dp * loaded.pp, [&](Communicator& world) {
                  train_rank(world, loaded, 1, &second, &store, 2);
                }, kTestComm).ok());
    ASSERT_EQ(second.losses.size(), 1u);
    EXPECT_NEAR(second.losses[0], straight->losses[2], 1e-5 * straight->losses[2]) << what;
  }
}

TEST(PipelineParallel, RefusesWhatItCannotRun) {
  Status status = run_on_thread_ranks(
      2, [&](Communicator& world) {
        auto interleaved = PipelineParallel::create(pipe_spec(), world, PipelineScheduleKind::kInterleaved, 4);
        ASSERT_FALSE(interleaved.ok());
        EXPECT_NE(interleaved.status().message().find("parallel.schedule = \"interleaved\": not built yet"),
                  std::string::npos);
        // ZB-H1 fills its bubble with weight gradients only with at least pp micro-batches.
        auto zb = PipelineParallel::create(pipe_spec(), world, PipelineScheduleKind::kZeroBubbleH1, 1);
        ASSERT_FALSE(zb.ok());
        EXPECT_NE(zb.status().message().find("pipeline zb-h1: needs micro-batches (1) >= pp (2)"), std::string::npos)
            << zb.status().message();
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
  auto kernels = make_kernel_backend("ref", {});
  ASSERT_TRUE(kernels.ok());
  status = run_on_thread_ranks(
      1, [&](Communicator& world) {
        auto zero3 = DataParallel::create(pipe_spec(), world, **kernels,
                                          {.zero_stage = 3, .stage = ModelStage{.end_layer = 1, .head = false}});
        ASSERT_FALSE(zero3.ok());
        EXPECT_NE(zero3.status().message().find("parallel.zero_stage = 3 with parallel.pp > 1"), std::string::npos);
      }, kTestComm);
  ASSERT_TRUE(status.ok());
}

}  // namespace
}  // namespace tessera

// The parallel/ tests' training runner: one world rank of a dp × tp × pp grid as Trainer::step drives it, on
// thread ranks (local backend), so that every layout can be compared with the single-rank oracle — per-step
// losses and gradient norms, and the final parameters reassembled into whole tensors by global offsets. Tiny
// model (3 layers, 2 heads, C = 16, T = 8, V = 40), 8 sequences per step over all dp ranks, the ref kernels.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/core/rank_local_state.h"
#include "tessera/comm/local_communicator.h"
#include "tessera/parallel/data_parallel.h"
#include "tessera/parallel/parallel_test_util.h"
#include "tessera/parallel/pipeline_parallel.h"
#include "tessera/parallel/tensor_parallel.h"

namespace tessera::grid_test {

inline ModelSpec spec() {
  ModelSpec s;
  s.n_layer = 3;  // pp 2 splits it 2 + 1, pp 3 into 1 + 1 + 1
  s.n_head = 2;   // tp 2: one head per rank
  s.n_embd = 16;
  s.seq_len = 8;
  s.vocab_size = 40;  // tp 2: 20 vocabulary rows per rank
  return s;
}

constexpr int64_t kSeq = 8;
constexpr int64_t kGlobalBatch = 8;  // sequences per step over all dp ranks

inline const CommOptions kTestComm{.name = "world", .deadline = std::chrono::seconds(60)};

struct Layout {
  int dp = 1, pp = 1, tp = 1;
  int vpp = 1;  // > 1: the interleaved schedule with vpp chunks per pipeline rank
  int zero_stage = 0;
  PipelineScheduleKind schedule = PipelineScheduleKind::kOneFOneB;
  int64_t micro_batch = 2;  // per dp rank; global / (micro · dp) micro-batches
  Recompute recompute = Recompute::kNone;
  bool sequence_parallel = false;
  int64_t n_layer = 3;  // the model's layers (an interleaved pipeline needs pp·vpp to divide them)
  int world() const { return dp * pp * tp; }
  std::string name() const {
    return "dp" + std::to_string(dp) + " tp" + std::to_string(tp) + (sequence_parallel ? "+sp" : "") + " pp" +
           std::to_string(pp) + (vpp > 1 ? " vpp" + std::to_string(vpp) : "") + " L" + std::to_string(n_layer) + " zero" + std::to_string(zero_stage) + " " + pipeline_schedule_kind_name(schedule) +
           " micro " + std::to_string(micro_batch) + " recompute " + recompute_name(recompute);
  }
};

struct RunResult {
  std::mutex mutex;
  std::vector<double> losses, norms, bubbles;  // per step (world rank 0's view)
  // Whole tensors by name after the last step, reassembled from every tp slice; "replica.<name>": the last
  // pipeline stage's copy of the embeddings; "tp<r>.<name>": tp rank r's copy of a tensor every tp rank holds.
  std::map<std::string, std::vector<float>> params;
  int64_t slots_stage0 = 0;
};

// One world rank's training: rank = (pp_index · dp + dp_index) · tp + tp_index (spec/grid_order.h).
// held_state: save and load this rank's own state (DataParallel::save_held_state through the rank-local
// adapters of core/rank_local_state.h, as in-memory checkpoints do) instead of global boxes.
inline void train_rank(Communicator& world, const Layout& layout, int steps, RunResult* result, BoxStore* load = nullptr,
                       int first_step = 0, BoxStore* save = nullptr, int save_after = -1, bool held_state = false) {
  const int tp_index = world.rank() % layout.tp;
  const int dp_index = world.rank() / layout.tp % layout.dp;
  const int pp_index = world.rank() / (layout.tp * layout.dp);
  auto pp = world.split(dp_index * layout.tp + tp_index, pp_index, "pp");
  auto dp = world.split(pp_index * layout.tp + tp_index, dp_index, "dp");
  auto tp = world.split(pp_index * layout.dp + dp_index, tp_index, "tp");
  auto model_group = world.split(dp_index, world.rank(), "model");
  ASSERT_TRUE(pp.ok() && dp.ok() && tp.ok() && model_group.ok());
  auto kernels = make_kernel_backend("ref", {});
  ASSERT_TRUE(kernels.ok());
  ModelSpec s = spec();
  s.n_layer = layout.n_layer;
  const int64_t micro_batches = kGlobalBatch / (layout.micro_batch * layout.dp);
  auto pipeline = PipelineParallel::create(s, **pp, layout.vpp > 1 ? PipelineScheduleKind::kInterleaved : layout.schedule,
                                          micro_batches, layout.vpp);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status().message();
  PipelineParallel& pipe = **pipeline;
  TensorParallel tensor_parallel(**tp);
  const TensorParallelPart part{.rank = tp_index, .size = layout.tp};
  Communicator* model_parallel = layout.pp * layout.tp > 1 ? model_group->get() : nullptr;
  auto engine = DataParallel::create(s, **dp, **kernels,
                                     {.zero_stage = layout.zero_stage, .adamw = {.weight_decay = 0.1f},
                                      .stage = pipe.stage(), .tensor_parallel = part, .model_parallel = model_parallel});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  DataParallel& data_parallel = **engine;
  const ModelOptions options{.recompute = layout.recompute, .slots = pipe.slots(), .split_backward = pipe.split_backward(),
                             .tensor_parallel = part, .tensor_group = &tensor_parallel,
                             .sequence_parallel = layout.sequence_parallel};
  GptModel model(s, **kernels, layout.micro_batch, kSeq, data_parallel.model_options(options), data_parallel.storage());
  data_parallel.attach(model);
  pipe.attach(model, data_parallel);
  data_parallel.init_parameters(1234);
  if (load != nullptr) {
    RankLocalStateReader local(*load);
    const Status status = held_state ? data_parallel.load_state(local) : data_parallel.load_state(*load);
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
    ASSERT_TRUE(tensor_parallel.status().ok()) << tensor_parallel.status().message();
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
    if (save != nullptr && step + 1 == save_after) {
      RankLocalStateWriter local(*save);
      if (held_state) {
        data_parallel.save_held_state(local);
      } else {
        data_parallel.save_state(*save);
      }
    }
  }
  std::vector<float> params(static_cast<size_t>(data_parallel.layout().total_numel()));
  ASSERT_TRUE(data_parallel.gather_parameters(params.data()).ok());
  if (dp_index != 0) return;
  const ParameterLayout& l = data_parallel.layout();
  std::lock_guard lock(result->mutex);
  for (size_t i = 0; i < l.tensors().size(); ++i) {
    const ParamTensor& t = l.tensors()[i];
    std::string key = t.name;
    // The last stage's replica of the embeddings must end equal to the first stage's; so must every tp rank's
    // copy of a tensor they all hold: both are checked once everything is in.
    if (l.embeddings_replica() && static_cast<int>(l.unit_of_tensor(i)) == l.embedding_unit()) key = "replica." + key;
    if (t.tp_replica && tp_index != 0) key = "tp" + std::to_string(tp_index) + "." + key;
    std::vector<float>& whole = result->params[key];
    if (whole.empty()) whole.assign(static_cast<size_t>(shape_numel(t.slice.global_shape)), NAN);
    copy_local_to_global(t.slice, params.data() + t.offset, whole.data());
  }
}

inline std::unique_ptr<RunResult> run(const Layout& layout, int steps) {
  auto result = std::make_unique<RunResult>();
  const Status status = run_on_thread_ranks(
      layout.world(), [&](Communicator& world) { train_rank(world, layout, steps, result.get()); }, kTestComm);
  EXPECT_TRUE(status.ok()) << layout.name() << ": " << status.message();
  return result;
}

// Losses within 1e-5 relative, gradient norms within 1e-4, parameters within 2e-5 of the oracle's; every copy
// of a replicated tensor bit-identical to the original.
inline void expect_same_training(const RunResult& expected, const RunResult& got, const std::string& what) {
  ASSERT_EQ(expected.losses.size(), got.losses.size()) << what;
  for (size_t i = 0; i < expected.losses.size(); ++i) {
    EXPECT_NEAR(got.losses[i], expected.losses[i], 1e-5 * std::abs(expected.losses[i])) << what << " step " << i + 1;
    EXPECT_NEAR(got.norms[i], expected.norms[i], 1e-4 * expected.norms[i]) << what << " norm, step " << i + 1;
  }
  double worst = 0;
  for (const auto& [name, values] : expected.params) {
    auto it = got.params.find(name);
    ASSERT_NE(it, got.params.end()) << what << ": no rank holds " << name;
    ASSERT_EQ(it->second.size(), values.size()) << what << " " << name;
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_FALSE(std::isnan(it->second[i])) << what << ": element " << i << " of " << name << " held by no rank";
      worst = std::max(worst, double{std::abs(it->second[i] - values[i])});
    }
  }
  size_t copies = 0;
  for (const auto& [key, values] : got.params) {
    const size_t dot = key.find('.');
    const std::string prefix = key.substr(0, dot);
    if (prefix != "replica" && !(prefix.size() > 2 && prefix.rfind("tp", 0) == 0)) continue;
    ++copies;
    // "tp1.replica.wpe" (tp rank 1's copy of the last stage's replica) compares with "replica.wpe".
    auto original = got.params.find(key.substr(dot + 1));
    ASSERT_NE(original, got.params.end()) << what << ": " << key << " has no original";
    EXPECT_EQ(values, original->second) << what << ": " << key << " drifted from the original";
  }
  EXPECT_EQ(got.params.size() - copies, expected.params.size()) << what;
  EXPECT_LT(worst, 2e-5) << what << ": largest parameter difference";
}

// Saved under `saved` after 2 steps, resumed under `loaded` for a third: the same loss as 3 steps straight.
inline void check_resharding(const Layout& saved, const Layout& loaded, const RunResult& straight) {
  const std::string what = saved.name() + " → " + loaded.name();
  BoxStore store;
  RunResult first, second;
  ASSERT_TRUE(run_on_thread_ranks(saved.world(), [&](Communicator& world) {
                train_rank(world, saved, 2, &first, nullptr, 0, &store, 2);
              }, kTestComm).ok());
  ASSERT_TRUE(store.complete()) << what << ": the ranks' pieces do not tile every tensor";
  ASSERT_TRUE(run_on_thread_ranks(loaded.world(), [&](Communicator& world) {
                train_rank(world, loaded, 1, &second, &store, 2);
              }, kTestComm).ok());
  ASSERT_EQ(second.losses.size(), 1u);
  EXPECT_NEAR(second.losses[0], straight.losses[2], 1e-5 * straight.losses[2]) << what;
}

// Every rank's own state (held_state) saved after 2 steps into a store of its own and loaded by the same rank
// of the same layout for a third: the third loss bit-identical to 3 steps straight, as an in-memory restore
// must be.
inline void check_held_state_restore(const Layout& layout) {
  const auto straight = run(layout, 3);
  std::vector<BoxStore> stores(static_cast<size_t>(layout.world()));
  RunResult first, second;
  ASSERT_TRUE(run_on_thread_ranks(layout.world(), [&](Communicator& world) {
                train_rank(world, layout, 2, &first, nullptr, 0, &stores[world.rank()], 2, true);
              }, kTestComm).ok());
  ASSERT_TRUE(run_on_thread_ranks(layout.world(), [&](Communicator& world) {
                train_rank(world, layout, 1, &second, &stores[world.rank()], 2, nullptr, -1, true);
              }, kTestComm).ok());
  ASSERT_EQ(second.losses.size(), 1u);
  EXPECT_EQ(second.losses[0], straight->losses[2]) << layout.name();
  EXPECT_EQ(second.norms[0], straight->norms[2]) << layout.name();
}

}  // namespace tessera::grid_test

// The memory-saving paths of GptModel change memory, not results:
//   - the LM head + loss chunked over tokens (any chunk size gives the same losses, and the same gradients
//     up to the order of the wte-gradient sums over chunks);
//   - activation recomputation (none / selective / full gives bit-identical losses and gradients over
//     several optimizer steps, with strictly less activation memory from none to selective to full).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tessera/core/rng.h"
#include "tessera/model/gpt_model.h"
#include "tessera/kernels/fast_backend.h"
#include "tessera/model/memory_report.h"

namespace tessera {
namespace {

std::vector<int32_t> tokens(int64_t n, int64_t V, uint64_t index) {
  RngStream rng(17, RngPurpose::kTest, index);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (auto& t : out) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(V)));
  return out;
}

std::unique_ptr<KernelBackend> backend(const char* name) {
  auto kernels = make_kernel_backend(name);
  EXPECT_TRUE(kernels.ok()) << kernels.status().message();
  return std::move(kernels).value();
}

struct Trace {
  std::vector<float> losses, grads, params;
};

// `steps` steps of forward, backward(0.5) and plain SGD (so later steps see updated parameters).
Trace train(KernelBackend& kernels, const ModelSpec& spec, int64_t B, int64_t T, const ModelOptions& options,
            int steps) {
  GptModel model(spec, kernels, B, T, options);
  model.init_parameters(21);
  Trace trace;
  for (int step = 0; step < steps; ++step) {
    const auto x = tokens(B * T, spec.vocab_size, 2 * step), y = tokens(B * T, spec.vocab_size, 2 * step + 1);
    model.zero_grad();
    trace.losses.push_back(model.forward(x.data(), y.data()));
    model.backward(0.5f);
    for (int64_t i = 0; i < model.num_params(); ++i) model.params()[i] -= 0.5f * model.grads()[i];
  }
  trace.grads.assign(model.grads(), model.grads() + model.num_params());
  trace.params.assign(model.params(), model.params() + model.num_params());
  return trace;
}

// Every gradient of `a` within rel · (the largest |gradient| of `b`) of `b`'s, and `b`'s not all zero.
void expect_gradients_within(const Trace& a, const Trace& b, double rel) {
  ASSERT_EQ(a.grads.size(), b.grads.size());
  double max_grad = 0, max_diff = 0;
  for (size_t i = 0; i < b.grads.size(); ++i) {
    max_grad = std::max(max_grad, static_cast<double>(std::abs(b.grads[i])));
    max_diff = std::max(max_diff, static_cast<double>(std::abs(b.grads[i] - a.grads[i])));
  }
  EXPECT_GT(max_grad, 0.0);
  EXPECT_LT(max_diff, rel * max_grad);
}

TEST(GptModelHead, ChunkedHeadMatchesOneChunk) {
  const ModelSpec spec{.n_layer = 2, .n_head = 2, .n_embd = 16, .seq_len = 8, .vocab_size = 53};
  for (const char* name : {"ref", "fast"}) {
    SCOPED_TRACE(name);
    auto kernels = backend(name);
    // N = 3·8 = 24 tokens: chunks of 5 leave a short last one; 24 is the whole batch in one chunk.
    const Trace chunked = train(*kernels, spec, 3, 8, {.head_chunk_rows = 5}, 2);
    const Trace whole = train(*kernels, spec, 3, 8, {.head_chunk_rows = 24}, 2);
    EXPECT_NEAR(chunked.losses[0], whole.losses[0], 1e-6);
    EXPECT_NEAR(chunked.losses[1], whole.losses[1], 1e-5);
    expect_gradients_within(chunked, whole, 1e-5);
  }
}

// With bf16 matmuls the kernels run the head's backward products once per group of chunks
// (ModelOptions::head_group_rows): groups of three 5-row chunks (the last group two chunks, 9 rows) against
// groups of one chunk give the same losses and gradients up to the order of the products' sums.
TEST(GptModelHead, GroupedHeadChunksMatchChunkByChunk) {
  const ModelSpec spec{.n_layer = 2, .n_head = 2, .n_embd = 16, .seq_len = 8, .vocab_size = 53};
  auto made = make_kernel_backend("fast", {.matmul_precision = MatmulPrecision::kBf16});
  if (!made.ok()) GTEST_SKIP() << made.status().message();
  KernelBackend& kernels = **made;
  ASSERT_EQ(kernels.head_group_dlogit_bytes(), 2);
  // 24 tokens: chunks of 5, 5, 5 | 5, 4 in groups of 15 and 9 rows.
  EXPECT_EQ(GptModel(spec, kernels, 3, 8, {.head_chunk_rows = 5, .head_group_rows = 15}).head_group_rows(), 15);
  const Trace grouped = train(kernels, spec, 3, 8, {.head_chunk_rows = 5, .head_group_rows = 15}, 2);
  const Trace single = train(kernels, spec, 3, 8, {.head_chunk_rows = 5, .head_group_rows = 5}, 2);
  EXPECT_EQ(grouped.losses[0], single.losses[0]);  // the first forward precedes any product
  EXPECT_NEAR(grouped.losses[1], single.losses[1], 1e-5);
  expect_gradients_within(grouped, single, 1e-5);
}

TEST(GptModelHead, GroupRowsAreWholeChunksWithinTheDlogitBudget) {
  const ModelSpec spec{.n_layer = 1, .n_head = 1, .n_embd = 8, .seq_len = 8, .vocab_size = 50257};
  // 128 MiB of bf16 dlogits at V = 50257 is 1335 rows: four whole 333-row chunks.
  EXPECT_EQ(GptModel::resolve_head_group_rows(spec, 2048, {}, 2), 4 * 333);
  // Kernels that hold no dlogits: one chunk per group; never past the tokens; at least one chunk.
  EXPECT_EQ(GptModel::resolve_head_group_rows(spec, 2048, {}, 0), 333);
  EXPECT_EQ(GptModel::resolve_head_group_rows(spec, 1000, {}, 2), 1000);
  EXPECT_EQ(GptModel::resolve_head_group_rows(spec, 2048, {.head_chunk_rows = 7, .head_group_rows = 20}, 2), 14);
  EXPECT_EQ(GptModel::resolve_head_group_rows(spec, 2048, {.head_chunk_rows = 7, .head_group_rows = 3}, 2), 7);
}

TEST(GptModelHead, ChunkRowsFollowTheByteBudget) {
  const ModelSpec spec{.n_layer = 1, .n_head = 1, .n_embd = 8, .seq_len = 8, .vocab_size = 50257};
  // 64 MiB of fp32 logits at V = 50257 is 333 rows; never more rows than tokens, never fewer than 1.
  EXPECT_EQ(GptModel::resolve_head_chunk_rows(spec, 2048, {}), 333);
  EXPECT_EQ(GptModel::resolve_head_chunk_rows(spec, 100, {}), 100);
  EXPECT_EQ(GptModel::resolve_head_chunk_rows(spec, 2048, {.head_chunk_rows = 7}), 7);
  const ModelSpec huge_vocab{.n_layer = 1, .n_head = 1, .n_embd = 8, .seq_len = 8, .vocab_size = int64_t{1} << 26};
  EXPECT_EQ(GptModel::resolve_head_chunk_rows(huge_vocab, 2048, {}), 1);
}

TEST(GptModelHead, EvalPassGivesTheSameLossAndNoBackward) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const ModelSpec spec{.n_layer = 1, .n_head = 2, .n_embd = 16, .seq_len = 8, .vocab_size = 31};
  auto kernels = backend("fast");
  GptModel model(spec, *kernels, 2, 8, {.head_chunk_rows = 3});
  model.init_parameters(3);
  const auto x = tokens(16, 31, 1), y = tokens(16, 31, 2);
  const float eval = model.forward(x.data(), y.data(), GptModel::Pass::kEval);
  EXPECT_EQ(model.forward(x.data(), y.data(), GptModel::Pass::kTrain), eval);
  model.backward(1.0f);
  model.forward(x.data(), y.data(), GptModel::Pass::kEval);
  EXPECT_DEATH(model.backward(1.0f), "Pass::kTrain");
}

// The recomputation test runs the fast kernels at 2 threads, the configuration training uses.
TEST(GptModelRecompute, LossesAndGradientsAreBitIdentical) {
  set_kernel_threads(2);
  // T = 80 crosses an attention tile; C = 96, NH = 3: HS = 32.
  const ModelSpec spec{.n_layer = 3, .n_head = 3, .n_embd = 96, .seq_len = 80, .vocab_size = 211};
  auto kernels = backend("fast");
  const Trace none = train(*kernels, spec, 2, 80, {.recompute = Recompute::kNone, .head_chunk_rows = 50}, 3);
  for (Recompute mode : {Recompute::kSelective, Recompute::kFull}) {
    SCOPED_TRACE(recompute_name(mode));
    const Trace other = train(*kernels, spec, 2, 80, {.recompute = mode, .head_chunk_rows = 50}, 3);
    EXPECT_EQ(other.losses, none.losses);
    EXPECT_EQ(other.grads, none.grads);
    EXPECT_EQ(other.params, none.params);
  }
  EXPECT_NE(none.losses[0], none.losses[2]);  // the steps really changed the model
}

TEST(GptModelRecompute, LessMemoryAndTheEstimateFollows) {
  const ModelSpec spec{.n_layer = 4, .n_head = 4, .n_embd = 64, .seq_len = 32, .vocab_size = 97};
  auto kernels = backend("ref");
  int64_t previous = 0;
  for (Recompute mode : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
    SCOPED_TRACE(recompute_name(mode));
    const ModelOptions options{.recompute = mode};
    GptModel model(spec, *kernels, 2, 32, options);
    const double allocated = 8.0 * static_cast<double>(model.num_params()) + static_cast<double>(model.activation_bytes());
    EXPECT_NEAR(GptModel::estimate_bytes(spec, 2, 32, options), allocated, 1e-6 * allocated);
    if (previous > 0) {
      EXPECT_LT(model.activation_bytes(), previous);
    }
    previous = model.activation_bytes();
  }
}

// The start-up report: its model kinds are the model's own allocation, AdamW is two floats per parameter,
// bf16 adds the 2-byte copy of every parameter, recomputation shrinks the activations only.
TEST(MemoryReport, KindsAddUpToTheAllocation) {
  const ModelSpec spec{.n_layer = 4, .n_head = 4, .n_embd = 64, .seq_len = 32, .vocab_size = 9000};
  auto kernels = backend("ref");
  const ModelOptions full{.recompute = Recompute::kFull};
  GptModel model(spec, *kernels, 2, 32, full);
  const MemoryReport r = training_memory_report(spec, 2, 32, full, MatmulPrecision::kFp32, 2);
  const double P = static_cast<double>(model.num_params());
  EXPECT_EQ(r.parameters, 4 * P);
  EXPECT_EQ(r.gradients, 4 * P);
  EXPECT_EQ(r.optimizer, 8 * P);
  // The model's buffers plus the fast attention's per-thread scratch: 2 threads × (6·HS·T + 4·64²) floats.
  const double attention_scratch = 2 * 4.0 * (6 * 16 * 32 + 4 * 64 * 64);
  EXPECT_EQ(r.activations + r.workspace, static_cast<double>(model.activation_bytes()) + attention_scratch);
  const MemoryReport none = training_memory_report(spec, 2, 32, {}, MatmulPrecision::kFp32, 2);
  EXPECT_GT(none.activations, r.activations);
  EXPECT_EQ(none.workspace, r.workspace);
  const MemoryReport bf16 = training_memory_report(spec, 2, 32, full, MatmulPrecision::kBf16, 2);
  EXPECT_EQ(bf16.parameters, 6 * P);
  // bf16 adds its operand slots, 2 bytes per element: A at its largest (here the fc1 output's gradient [N, 4C]),
  // C (the fc2 input [N, 4C]) and the head's, a group of chunks' dlogits [group rows, V]; and its attention
  // kernel's scratch replaces fp32's.
  const double N = 2 * 32, group = static_cast<double>(GptModel::resolve_head_group_rows(spec, 2 * 32, full, 2));
  EXPECT_EQ(group, N);  // 64 tokens: one chunk, one group
  const double attention_change = 2 * (FastBackend::attention_workspace_bytes(32, 16, MatmulPrecision::kBf16) -
                                       FastBackend::attention_workspace_bytes(32, 16, MatmulPrecision::kFp32));
  EXPECT_DOUBLE_EQ(bf16.workspace, r.workspace + attention_change + 2.0 * (N * 4 * 64 + N * 4 * 64 + group * 9000));
  // From FastBackend::kPackedWeightMinRows tokens on (here 8 × 32), bf16 with resident weights also holds the layers'
  // matmul weights packed twice (forward and dinp), 2 bytes per element: 4 layers × (qkv 3C² + proj C² + fc 4C² +
  // fcproj 4C²); a pipeline stage its own layers only.
  EXPECT_EQ(8 * 32, FastBackend::kPackedWeightMinRows);
  ModelOptions not_resident = full;
  not_resident.resident_weights = false;
  const MemoryReport packed = training_memory_report(spec, 8, 32, full, MatmulPrecision::kBf16, 2);
  const MemoryReport unpacked = training_memory_report(spec, 8, 32, not_resident, MatmulPrecision::kBf16, 2);
  EXPECT_EQ(packed.workspace - unpacked.workspace, 2.0 * 2.0 * 4 * 12 * 64 * 64);
  ModelOptions first_stage = full;
  first_stage.stage = {.first_layer = 0, .end_layer = 1, .encoder = true, .head = false};
  ModelOptions first_stage_unpacked = first_stage;
  first_stage_unpacked.resident_weights = false;
  EXPECT_EQ(training_memory_report(spec, 8, 32, first_stage, MatmulPrecision::kBf16, 2).workspace -
                training_memory_report(spec, 8, 32, first_stage_unpacked, MatmulPrecision::kBf16, 2).workspace,
            2.0 * 2.0 * 1 * 12 * 64 * 64);
  EXPECT_NE(r.summary(Recompute::kFull).find("activations"), std::string::npos);
  EXPECT_NE(r.summary(Recompute::kFull).find("(recompute full)"), std::string::npos);
}

}  // namespace
}  // namespace tessera

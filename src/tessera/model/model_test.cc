#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tessera/core/rng.h"
#include "tessera/model/gpt_decoder.h"
#include "tessera/model/gpt_model.h"
#include "tessera/model/sampling.h"

namespace tessera {
namespace {

ModelSpec tiny_spec() {
  return ModelSpec{.n_layer = 2, .n_head = 2, .n_embd = 8, .seq_len = 6, .vocab_size = 11};
}

std::vector<int32_t> random_tokens(int64_t n, int64_t V, uint64_t index) {
  RngStream rng(5, RngPurpose::kTest, index);
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (auto& t : tokens) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(V)));
  return tokens;
}

std::unique_ptr<KernelBackend> backend(const char* name) {
  auto kernels = make_kernel_backend(name);
  EXPECT_TRUE(kernels.ok()) << kernels.status().message();
  return std::move(kernels).value();
}

TEST(ParameterLayout, CountMatchesModelSpecAndTensorsTile) {
  const ModelSpec spec{.n_layer = 3, .n_head = 4, .n_embd = 32, .seq_len = 16, .vocab_size = 100};
  ParameterLayout layout(spec);
  EXPECT_EQ(layout.total_numel(), spec.num_params());
  int64_t next = 0;
  for (const ParamTensor& t : layout.tensors()) {
    EXPECT_EQ(t.offset, next) << t.name;
    next += t.numel;
  }
  EXPECT_EQ(layout.tensors().front().name, "wte");
  EXPECT_EQ(layout.tensors().back().name, "lnf.bias");
}

TEST(GptModel, InitialLossIsNearLnV) {
  auto kernels = backend("ref");
  const ModelSpec spec{.n_layer = 2, .n_head = 2, .n_embd = 32, .seq_len = 16, .vocab_size = 500};
  GptModel model(spec, *kernels, 2, 16);
  model.init_parameters(1);
  const auto inputs = random_tokens(32, 500, 1), targets = random_tokens(32, 500, 2);
  const float loss = model.forward(inputs.data(), targets.data());
  // With 0.02-std weights the logits are within ~0.1 of each other: loss = ln V ± 2%.
  EXPECT_NEAR(loss, std::log(500.0), 0.02 * std::log(500.0));
}

// Whole-model gradient check: backward vs central differences of the mean loss, on every parameter of
// a tiny model (ref kernels, float32; eps and tolerance sized for float rounding of a ~2.4 loss).
TEST(GptModel, BackwardMatchesFiniteDifferences) {
  auto kernels = backend("ref");
  const ModelSpec spec = tiny_spec();
  GptModel model(spec, *kernels, 2, 6);
  model.init_parameters(3);
  // Larger weights than GPT-2 init so that every path carries a visible gradient.
  for (int64_t i = 0; i < model.num_params(); ++i) model.params()[i] *= 3.0f;
  const auto inputs = random_tokens(12, 11, 3), targets = random_tokens(12, 11, 4);
  model.zero_grad();
  model.forward(inputs.data(), targets.data());
  model.backward(1.0f);
  std::vector<float> analytic(model.grads(), model.grads() + model.num_params());
  const float eps = 1e-3f;
  int checked = 0;
  double worst = 0.0;
  for (int64_t i = 0; i < model.num_params(); ++i) {
    float& w = model.params()[i];
    const float saved = w;
    w = saved + eps;
    const double up = model.forward(inputs.data(), targets.data());
    w = saved - eps;
    const double down = model.forward(inputs.data(), targets.data());
    w = saved;
    const double numeric = (up - down) / (2.0 * eps);
    const double error = std::abs(numeric - analytic[i]) / std::max(1e-2, std::abs(numeric) + std::abs(analytic[i]));
    worst = std::max(worst, error);
    EXPECT_LT(error, 0.03) << "param " << i << " numeric " << numeric << " analytic " << analytic[i];
    ++checked;
  }
  EXPECT_EQ(checked, spec.num_params());
  RecordProperty("worst_relative_error", std::to_string(worst));
}

TEST(GptModel, GradientsAccumulateAndLossScaleScales) {
  auto kernels = backend("ref");
  GptModel model(tiny_spec(), *kernels, 2, 6);
  model.init_parameters(4);
  const auto inputs = random_tokens(12, 11, 5), targets = random_tokens(12, 11, 6);
  model.zero_grad();
  model.forward(inputs.data(), targets.data());
  model.backward(1.0f);
  std::vector<float> once(model.grads(), model.grads() + model.num_params());
  model.zero_grad();
  for (int i = 0; i < 2; ++i) {
    model.forward(inputs.data(), targets.data());
    model.backward(0.5f);
  }
  for (int64_t i = 0; i < model.num_params(); ++i) EXPECT_NEAR(model.grads()[i], once[i], 1e-6 + 1e-5 * std::abs(once[i]));
}

// A split backward (zero-bubble schedules): the input pass, then the weight pass, gives the same gradients,
// bit for bit, as one backward — also with two micro-batches whose weight passes run after both input passes.
TEST(GptModel, SplitBackwardGivesTheSameGradients) {
  for (const char* name : {"ref", "fast"}) {
    SCOPED_TRACE(name);
    auto kernels = backend(name);
    const auto a_in = random_tokens(12, 11, 7), a_out = random_tokens(12, 11, 8);
    const auto b_in = random_tokens(12, 11, 9), b_out = random_tokens(12, 11, 10);
    GptModel whole(tiny_spec(), *kernels, 2, 6, {.slots = 2});
    whole.init_parameters(4);
    whole.zero_grad();
    const float loss_a = whole.forward_stage(0, a_in.data(), nullptr, a_out.data());
    whole.backward_stage(0, nullptr, nullptr, 0.5f);
    whole.forward_stage(1, b_in.data(), nullptr, b_out.data());
    whole.backward_stage(1, nullptr, nullptr, 0.5f);
    const std::vector<float> expected(whole.grads(), whole.grads() + whole.num_params());

    GptModel split(tiny_spec(), *kernels, 2, 6, {.slots = 2, .split_backward = true});
    split.init_parameters(4);
    split.zero_grad();
    EXPECT_EQ(split.forward_stage(0, a_in.data(), nullptr, a_out.data()), loss_a);
    split.backward_stage_input(0, nullptr, nullptr, 0.5f);
    split.forward_stage(1, b_in.data(), nullptr, b_out.data());
    split.backward_stage_input(1, nullptr, nullptr, 0.5f);
    split.backward_stage_weight(0);
    split.backward_stage_weight(1);
    const std::vector<float> got(split.grads(), split.grads() + split.num_params());
    EXPECT_EQ(got, expected);
    // Before its weight pass a block's matmul weights have no gradient yet.
    split.zero_grad();
    split.forward_stage(0, a_in.data(), nullptr, a_out.data());
    split.backward_stage_input(0, nullptr, nullptr, 1.0f);
    const int64_t qkv = split.layout().block(0).qkv_w;
    EXPECT_EQ(split.grads()[qkv], 0.0f);
    split.backward_stage_weight(0);
    EXPECT_NE(split.grads()[qkv], 0.0f);
  }
}

TEST(GptModel, FastBackendMatchesRef) {
  auto ref = backend("ref"), fast = backend("fast");
  const ModelSpec spec{.n_layer = 2, .n_head = 4, .n_embd = 64, .seq_len = 32, .vocab_size = 301};
  GptModel a(spec, *ref, 3, 32), b(spec, *fast, 3, 32);
  a.init_parameters(9);
  b.init_parameters(9);
  const auto inputs = random_tokens(96, 301, 7), targets = random_tokens(96, 301, 8);
  a.zero_grad();
  b.zero_grad();
  EXPECT_NEAR(a.forward(inputs.data(), targets.data()), b.forward(inputs.data(), targets.data()), 1e-4);
  a.backward(1.0f);
  b.backward(1.0f);
  double max_grad = 0, max_diff = 0;
  for (int64_t i = 0; i < a.num_params(); ++i) {
    max_grad = std::max(max_grad, static_cast<double>(std::abs(a.grads()[i])));
    max_diff = std::max(max_diff, static_cast<double>(std::abs(a.grads()[i] - b.grads()[i])));
  }
  EXPECT_LT(max_diff, 1e-3 * max_grad);
}

// bf16 matmuls (MatmulPrecision::kBf16) at GPT-2 init: the loss equals fp32's within 1e-2 relative and
// the gradient is fp32's within a few bf16 roundings (relative L2 error ~ 2^-8 per matmul, summed over the
// chain), but is not fp32's (the bf16 path really rounds). The fast bf16 model shares the ref emulation's
// matmul roundings, so it is closer to the emulation than to fp32; not much closer, because its attention
// also rounds P and dS to bf16 (fast_attention_bf16.cc), which the emulation does not (measured: 0.0022 from
// the emulation, 0.0034 from fp32, the emulation 0.0033 from fp32).
TEST(GptModel, Bf16MatmulsAgreeWithFp32) {
  auto fp32 = backend("fast");
  auto fast_bf16 = make_kernel_backend("fast", {.matmul_precision = MatmulPrecision::kBf16});
  auto ref_bf16 = make_kernel_backend("ref", {.matmul_precision = MatmulPrecision::kBf16});
  ASSERT_TRUE(fast_bf16.ok()) << fast_bf16.status().message();
  ASSERT_TRUE(ref_bf16.ok());
  const ModelSpec spec{.n_layer = 2, .n_head = 4, .n_embd = 64, .seq_len = 32, .vocab_size = 301};
  GptModel a(spec, *fp32, 3, 32), b(spec, **fast_bf16, 3, 32), c(spec, **ref_bf16, 3, 32);
  const auto inputs = random_tokens(96, 301, 7), targets = random_tokens(96, 301, 8);
  double loss[3];
  GptModel* models[3] = {&a, &b, &c};
  for (int m = 0; m < 3; ++m) {
    models[m]->init_parameters(9);
    models[m]->zero_grad();
    loss[m] = models[m]->forward(inputs.data(), targets.data());
    models[m]->backward(1.0f);
  }
  EXPECT_NEAR(loss[1], loss[0], 1e-2 * loss[0]);
  EXPECT_NE(loss[1], loss[0]);
  EXPECT_NEAR(loss[1], loss[2], 1e-4 * loss[2]);
  // Relative L2 distance of gradient vectors.
  auto distance = [&](const GptModel& x, const GptModel& y) {
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < x.num_params(); ++i) {
      const double d = static_cast<double>(x.grads()[i]) - y.grads()[i];
      diff += d * d;
      norm += static_cast<double>(y.grads()[i]) * y.grads()[i];
    }
    return std::sqrt(diff / norm);
  };
  const double vs_fp32 = distance(b, a), vs_emulation = distance(b, c);
  EXPECT_LT(vs_fp32, 3e-2);
  EXPECT_GT(vs_fp32, 1e-4);  // fp32 reordering alone is ~1e-6
  EXPECT_LT(vs_emulation, 0.8 * vs_fp32);
  RecordProperty("grad_rel_l2_vs_fp32", std::to_string(vs_fp32));
  RecordProperty("grad_rel_l2_vs_emulation", std::to_string(vs_emulation));
}

// The KV-cache decoder must produce, token by token, the logits of the full causal forward.
TEST(GptDecoder, MatchesFullForwardLogits) {
  auto kernels = backend("ref");
  const ModelSpec spec{.n_layer = 2, .n_head = 2, .n_embd = 16, .seq_len = 8, .vocab_size = 37};
  GptModel model(spec, *kernels, 1, 8);
  model.init_parameters(11);
  for (int64_t i = 0; i < model.num_params(); ++i) model.params()[i] *= 5.0f;
  const auto tokens = random_tokens(8, 37, 9);
  model.forward(tokens.data(), tokens.data());
  std::vector<float> full_logits(8 * 37);
  model.compute_logits(full_logits.data());
  GptDecoder decoder(spec, model.params(), *kernels);
  for (int64_t t = 0; t < 8; ++t) {
    auto logits = decoder.feed(tokens[t]);
    ASSERT_TRUE(logits.ok());
    for (int64_t v = 0; v < 37; ++v) {
      EXPECT_NEAR((*logits)[v], full_logits[t * 37 + v], 1e-4) << "t=" << t << " v=" << v;
    }
  }
  EXPECT_FALSE(decoder.feed(1).ok());  // the context is full
}

TEST(Sampling, GreedyTopKAndDeterminism) {
  const float logits[5] = {0.1f, 3.0f, 0.2f, 2.9f, -1.0f};
  RngStream rng(1, RngPurpose::kSampling, 0);
  EXPECT_EQ(sample_token(logits, 5, {.temperature = 0.0f}, rng), 1);
  int counts[5] = {};
  for (int i = 0; i < 2000; ++i) ++counts[sample_token(logits, 5, {.temperature = 1.0f, .top_k = 2}, rng)];
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);  // top-2 keeps only tokens 1 and 3
  EXPECT_GT(counts[1], 800);
  EXPECT_GT(counts[3], 800);
  RngStream a(7, RngPurpose::kSampling, 3), b(7, RngPurpose::kSampling, 3);
  EXPECT_EQ(sample_token(logits, 5, {}, a), sample_token(logits, 5, {}, b));
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// The pre-allocation estimate matches what a GptModel really allocates (parameters, gradients, activations).
TEST(GptModel, EstimateBytesMatchesAllocation) {
  auto kernels = backend("ref");
  const ModelSpec spec{.n_layer = 3, .n_head = 4, .n_embd = 32, .seq_len = 24, .vocab_size = 97};
  GptModel model(spec, *kernels, 2, 16);
  const double allocated = 8.0 * static_cast<double>(model.num_params()) + static_cast<double>(model.activation_bytes());
  EXPECT_NEAR(GptModel::estimate_bytes(spec, 2, 16), allocated, 1e-3 * allocated);
  EXPECT_GT(GptModel::estimate_bytes({.n_layer = 100000, .n_head = 1, .n_embd = 1 << 20, .seq_len = 1 << 20,
                                      .vocab_size = 1 << 30},
                                     1 << 20, 1 << 20),
            1e20);  // no overflow into small or negative numbers
}

}  // namespace
}  // namespace tessera

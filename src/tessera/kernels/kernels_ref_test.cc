// The ref backend's backward kernels against central finite differences of its forward kernels.
//
// Method: for a forward y = f(x) and a fixed random projection r, L(x) = Σ r·y (summed in double) has
// ∂L/∂x = backward(dout = r). Each x[i] is perturbed in float by ±kEps and the realised step is used as
// the denominator. Tolerance |fd - analytic| ≤ kTol·(1 + |analytic|), with kEps = 1e-2, kTol = 2e-3:
// inputs and outputs are O(1), so the central difference's truncation error is ~kEps²/6·|L'''| ≈ 2e-5
// and float rounding of the ~100 outputs contributes ~√100·6e-8/(2·kEps) ≈ 3e-5; 2e-3 leaves a wide
// margin for larger third derivatives (softmax, layernorm) while a wrong formula (a missing term, a
// factor of 2, a transposed index) is off by O(|analytic|) ≫ 2e-3.
//
// Parameter gradients are pre-filled with 1 and activation gradients with garbage, so the test also
// pins the accumulate (+=) / overwrite (=) conventions of kernel_backend.h.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "tessera/kernels/kernels_test_util.h"
#include "tessera/kernels/ref_backend.h"

namespace tessera {
namespace {

using kernels_test::random_floats;
using kernels_test::random_tokens;

constexpr float kEps = 1e-2f;
constexpr double kTol = 2e-3;
constexpr float kPrefill = 1.0f;    // parameter gradients start here and must be added to
constexpr float kGarbage = 123.0f;  // activation gradients start here and must be overwritten

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double acc = 0.0;
  for (size_t i = 0; i < a.size(); ++i) acc += static_cast<double>(a[i]) * b[i];
  return acc;
}

// Checks ∂(Σ r·forward())/∂x[i] == analytic[i] - offset for every i, perturbing x in place.
void expect_gradient(const char* what, std::vector<float>& x, const std::vector<float>& analytic, float offset,
                     const std::vector<float>& r, const std::function<std::vector<float>()>& forward) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  for (size_t i = 0; i < x.size(); ++i) {
    const float saved = x[i];
    x[i] = saved + kEps;
    const float up = x[i];
    const double loss_up = dot(r, forward());
    x[i] = saved - kEps;
    const float down = x[i];
    const double loss_down = dot(r, forward());
    x[i] = saved;
    const double fd = (loss_up - loss_down) / (static_cast<double>(up) - down);
    const double got = static_cast<double>(analytic[i]) - offset;
    EXPECT_NEAR(got, fd, kTol * (1.0 + std::abs(got))) << what << "[" << i << "]";
  }
}

TEST(RefKernelsTest, MatmulBackwardMatchesFiniteDifferences) {
  RefBackend ref;
  const int64_t N = 3, C = 5, OC = 4;
  std::vector<float> inp = random_floats(N * C, 1), weight = random_floats(OC * C, 2), bias = random_floats(OC, 3);
  const std::vector<float> r = random_floats(N * OC, 4);
  auto forward = [&] {
    std::vector<float> out(N * OC);
    ref.matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
    return out;
  };
  std::vector<float> dinp(N * C, kGarbage), dweight(OC * C, kPrefill), dbias(OC, kPrefill);
  ref.matmul_backward(dinp.data(), dweight.data(), dbias.data(), r.data(), inp.data(), weight.data(), N, C, OC);
  expect_gradient("dinp", inp, dinp, 0.0f, r, forward);
  expect_gradient("dweight", weight, dweight, kPrefill, r, forward);
  expect_gradient("dbias", bias, dbias, kPrefill, r, forward);
}

TEST(RefKernelsTest, MatmulWithoutBiasSkipsIt) {
  RefBackend ref;
  const std::vector<float> inp = {1, 2}, weight = {3, 4, 5, 6};  // N=1, C=2, OC=2
  std::vector<float> out(2);
  ref.matmul_forward(out.data(), inp.data(), weight.data(), nullptr, 1, 2, 2);
  EXPECT_EQ(out, (std::vector<float>{11, 17}));
}

TEST(RefKernelsTest, LayernormBackwardMatchesFiniteDifferences) {
  RefBackend ref;
  const int64_t N = 3, C = 7;
  std::vector<float> inp = random_floats(N * C, 5, -2.0f, 2.0f), weight = random_floats(C, 6),
                     bias = random_floats(C, 7);
  const std::vector<float> r = random_floats(N * C, 8);
  std::vector<float> mean(N), rstd(N);
  auto forward = [&] {
    std::vector<float> out(N * C);
    ref.layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N, C);
    return out;
  };
  forward();
  std::vector<float> dinp(N * C, kPrefill), dweight(C, kPrefill), dbias(C, kPrefill);
  ref.layernorm_backward(dinp.data(), dweight.data(), dbias.data(), r.data(), inp.data(), weight.data(),
                         mean.data(), rstd.data(), N, C);
  expect_gradient("dinp", inp, dinp, kPrefill, r, forward);
  expect_gradient("dweight", weight, dweight, kPrefill, r, forward);
  expect_gradient("dbias", bias, dbias, kPrefill, r, forward);
}

TEST(RefKernelsTest, LayernormForwardNormalises) {
  RefBackend ref;
  const std::vector<float> inp = {1, 2, 3, 4}, weight = {1, 1, 1, 1}, bias = {0, 0, 0, 0};
  std::vector<float> out(4), mean(1), rstd(1);
  ref.layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), 1, 4);
  EXPECT_FLOAT_EQ(mean[0], 2.5f);
  EXPECT_NEAR(rstd[0], 1.0 / std::sqrt(1.25 + 1e-5), 1e-6);
  EXPECT_NEAR(out[0], -1.5 / std::sqrt(1.25 + 1e-5), 1e-6);
}

TEST(RefKernelsTest, EncoderBackwardMatchesFiniteDifferences) {
  RefBackend ref;
  const int64_t B = 2, T = 3, C = 4, V = 5;
  const std::vector<int32_t> tokens = {1, 3, 1, 0, 1, 4};  // token 1 repeats: its gradient rows add up
  std::vector<float> wte = random_floats(V * C, 9), wpe = random_floats(T * C, 10);
  const std::vector<float> r = random_floats(B * T * C, 11);
  auto forward = [&] {
    std::vector<float> out(B * T * C);
    ref.encoder_forward(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
    return out;
  };
  std::vector<float> dwte(V * C, kPrefill), dwpe(T * C, kPrefill);
  ref.encoder_backward(dwte.data(), dwpe.data(), r.data(), tokens.data(), B, T, C);
  expect_gradient("dwte", wte, dwte, kPrefill, r, forward);
  expect_gradient("dwpe", wpe, dwpe, kPrefill, r, forward);
}

void check_attention(int64_t B, int64_t T, int64_t C, int64_t NH, uint32_t seed) {
  RefBackend ref;
  std::vector<float> qkv = random_floats(B * T * 3 * C, seed, -1.5f, 1.5f);
  const std::vector<float> r = random_floats(B * T * C, seed + 1);
  std::vector<float> stats(2 * B * NH * T);
  auto forward = [&] {
    std::vector<float> out(B * T * C);
    ref.attention_forward(out.data(), stats.data(), qkv.data(), B, T, C, NH);
    return out;
  };
  const std::vector<float> out = forward();
  std::vector<float> dqkv(B * T * 3 * C, kGarbage);
  ref.attention_backward(dqkv.data(), r.data(), qkv.data(), out.data(), stats.data(), B, T, C, NH);
  expect_gradient("dqkv", qkv, dqkv, 0.0f, r, forward);
}

TEST(RefKernelsTest, AttentionBackwardMatchesFiniteDifferences) { check_attention(2, 4, 6, 2, 12); }
TEST(RefKernelsTest, AttentionBackwardSingleHeadSingleStep) { check_attention(1, 1, 4, 1, 13); }

// Against the definition written out for a T = 3 single head: stats_i = (max_j s_ij, Σ_{j≤i} e^{s_ij - max}),
// and the output is the softmax-weighted mean of v_0..v_i (the future never enters).
TEST(RefKernelsTest, AttentionForwardIsCausalAndNormalised) {
  RefBackend ref;
  const int64_t B = 1, T = 3, C = 4, NH = 1;
  std::vector<float> qkv = random_floats(B * T * 3 * C, 14);
  std::vector<float> out(B * T * C, kGarbage), stats(2 * B * NH * T, kGarbage);
  ref.attention_forward(out.data(), stats.data(), qkv.data(), B, T, C, NH);
  auto at = [&](int64_t t, int64_t part, int64_t c) { return static_cast<double>(qkv[t * 3 * C + part * C + c]); };
  for (int64_t i = 0; i < T; ++i) {
    double s[T], sum = 0.0, mx = -INFINITY;
    for (int64_t j = 0; j <= i; ++j) {
      s[j] = 0.0;
      for (int64_t c = 0; c < C; ++c) s[j] += at(i, 0, c) * at(j, 1, c) / 2.0;  // scale = 1/sqrt(4)
      sum += std::exp(s[j]);
      mx = std::max(mx, s[j]);
    }
    EXPECT_NEAR(stats[2 * i], mx, 1e-6) << "i=" << i;
    EXPECT_NEAR(stats[2 * i + 1], sum / std::exp(mx), 1e-6) << "i=" << i;
    for (int64_t c = 0; c < C; ++c) {
      double expected = 0.0;
      for (int64_t j = 0; j <= i; ++j) expected += std::exp(s[j]) / sum * at(j, 2, c);
      EXPECT_NEAR(out[i * C + c], expected, 1e-6) << "i=" << i << " c=" << c;
    }
  }
  // Changing the last token's k and v leaves rows 0 and 1 exactly as they were.
  const std::vector<float> before = out;
  for (int64_t c = C; c < 3 * C; ++c) qkv[(T - 1) * 3 * C + c] += 1.0f;
  ref.attention_forward(out.data(), stats.data(), qkv.data(), B, T, C, NH);
  for (int64_t c = 0; c < 2 * C; ++c) EXPECT_EQ(out[c], before[c]);
}

TEST(RefKernelsTest, GeluBackwardMatchesFiniteDifferences) {
  RefBackend ref;
  const int64_t n = 40;
  std::vector<float> inp = random_floats(n, 15, -4.0f, 4.0f);
  const std::vector<float> r = random_floats(n, 16);
  auto forward = [&] {
    std::vector<float> out(n);
    ref.gelu_forward(out.data(), inp.data(), n);
    return out;
  };
  std::vector<float> dinp(n, kGarbage);
  ref.gelu_backward(dinp.data(), inp.data(), r.data(), n);
  expect_gradient("dinp", inp, dinp, 0.0f, r, forward);
}

TEST(RefKernelsTest, GeluForwardKnownValues) {
  RefBackend ref;
  const std::vector<float> inp = {0.0f, 1.0f, -1.0f, 10.0f};
  std::vector<float> out(4);
  ref.gelu_forward(out.data(), inp.data(), 4);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_NEAR(out[1], 0.8411920, 1e-6);
  EXPECT_NEAR(out[2], -0.1588080, 1e-6);
  EXPECT_NEAR(out[3], 10.0, 1e-6);
}

TEST(RefKernelsTest, CrossentropyBackwardMatchesFiniteDifferences) {
  RefBackend ref;
  const int64_t N = 3, V = 7;
  const float dloss = 1.0f / 3.0f;
  std::vector<float> logits = random_floats(N * V, 17, -3.0f, 3.0f);
  const std::vector<int32_t> targets = {0, 6, 2};
  std::vector<float> lse(N);
  auto forward = [&] {
    std::vector<float> losses(N);
    ref.crossentropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, V);
    return losses;
  };
  forward();
  std::vector<float> dlogits(N * V, kGarbage);
  ref.crossentropy_backward(dlogits.data(), logits.data(), lse.data(), targets.data(), dloss, N, V);
  expect_gradient("dlogits", logits, dlogits, 0.0f, std::vector<float>(N, dloss), forward);
}

TEST(RefKernelsTest, CrossentropyOfUniformLogitsIsLogV) {
  RefBackend ref;
  const std::vector<float> logits(10, 2.0f);
  const std::vector<int32_t> targets = {3};
  float loss = 0.0f, lse = 0.0f;
  ref.crossentropy_forward(&loss, &lse, logits.data(), targets.data(), 1, 10);
  EXPECT_NEAR(loss, std::log(10.0), 1e-6);
  EXPECT_NEAR(lse, 2.0 + std::log(10.0), 1e-6);
}

TEST(RefKernelsTest, AdamwFirstStepMovesBySignOfGradient) {
  RefBackend ref;
  // At t = 1, m̂ = g and v̂ = g², so the update is lr·(g/(|g| + eps) + wd·p).
  std::vector<float> params = {1.0f, -2.0f}, m = {0, 0}, v = {0, 0};
  const std::vector<float> grads = {0.5f, -3.0f};
  ref.adamw_update(params.data(), grads.data(), m.data(), v.data(), 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
  EXPECT_NEAR(params[0], 1.0 - 0.1 * (1.0 + 0.01 * 1.0), 1e-6);
  EXPECT_NEAR(params[1], -2.0 - 0.1 * (-1.0 + 0.01 * -2.0), 1e-6);
  EXPECT_NEAR(m[0], 0.05, 1e-7);
  EXPECT_NEAR(v[1], 0.001 * 9.0, 1e-6);  // 1 - 0.999f is not exactly 0.001
}

TEST(RefKernelsTest, ResidualSumSquaresScale) {
  RefBackend ref;
  std::vector<float> a = {1, 2, 3};
  const std::vector<float> b = {10, 20, 30};
  ref.residual_forward(a.data(), a.data(), b.data(), 3);  // out aliases a
  EXPECT_EQ(a, (std::vector<float>{11, 22, 33}));
  EXPECT_DOUBLE_EQ(ref.sum_squares(a.data(), 3), 121.0 + 484.0 + 1089.0);
  ref.scale(a.data(), 0.5f, 3);
  EXPECT_EQ(a, (std::vector<float>{5.5f, 11, 16.5f}));
}

}  // namespace
}  // namespace tessera

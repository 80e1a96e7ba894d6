// The fast backend against the ref oracle on random inputs, including awkward sizes (N, C not multiples
// of 16, T = 1, NH = 1, odd V, T crossing the attention block size), the accumulate/overwrite
// conventions, crossentropy in place, and AdamW over several steps. Each comparison runs at 1 and 3
// threads, so uneven splits of rows and columns over threads are exercised too.
//
// Tolerances: matmul and attention reorder float sums of ≤ a few hundred O(1) terms (sgemm blocking
// vs the oracle's double sums): ~1e-6 relative in practice, checked at 1e-4. The fast exp/tanh have
// ~2e-7 relative error, checked at 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tessera/kernels/fast_backend.h"
#include "tessera/kernels/kernels_test_util.h"
#include "tessera/kernels/ref_backend.h"

namespace tessera {
namespace {

using kernels_test::all_close;
using kernels_test::random_floats;
using kernels_test::random_tokens;

constexpr int kThreadCounts[] = {1, 3};

class FastKernelsTest : public ::testing::Test {
 protected:
  void TearDown() override { set_kernel_threads(2); }
  RefBackend ref_;
  FastBackend fast_;
};

void check_matmul(KernelBackend& ref, KernelBackend& fast, int64_t N, int64_t C, int64_t OC, bool with_bias,
                  uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "N=" << N << " C=" << C << " OC=" << OC << " bias=" << with_bias);
  const std::vector<float> inp = random_floats(N * C, seed), weight = random_floats(OC * C, seed + 1),
                           bias = random_floats(OC, seed + 2), dout = random_floats(N * OC, seed + 3);
  const float* b = with_bias ? bias.data() : nullptr;
  std::vector<float> out_ref(N * OC), out_fast(N * OC, 7.0f);
  ref.matmul_forward(out_ref.data(), inp.data(), weight.data(), b, N, C, OC);
  fast.matmul_forward(out_fast.data(), inp.data(), weight.data(), b, N, C, OC);
  EXPECT_TRUE(all_close(out_fast, out_ref, 1e-4, 1e-4)) << "forward";

  // Parameter gradients start non-zero and are accumulated twice: the result must be start + 2·grad.
  const std::vector<float> dweight_start = random_floats(OC * C, seed + 4), dbias_start = random_floats(OC, seed + 5);
  std::vector<float> dinp_ref(N * C), dinp_fast(N * C, 7.0f);
  std::vector<float> dweight_ref = dweight_start, dweight_fast = dweight_start;
  std::vector<float> dbias_ref = dbias_start, dbias_fast = dbias_start;
  for (int call = 0; call < 2; ++call) {
    ref.matmul_backward(dinp_ref.data(), dweight_ref.data(), with_bias ? dbias_ref.data() : nullptr, dout.data(),
                        inp.data(), weight.data(), N, C, OC);
    fast.matmul_backward(dinp_fast.data(), dweight_fast.data(), with_bias ? dbias_fast.data() : nullptr,
                         dout.data(), inp.data(), weight.data(), N, C, OC);
  }
  EXPECT_TRUE(all_close(dinp_fast, dinp_ref, 1e-4, 1e-4)) << "dinp";
  EXPECT_TRUE(all_close(dweight_fast, dweight_ref, 1e-4, 1e-4)) << "dweight";
  EXPECT_TRUE(all_close(dbias_fast, dbias_ref, 1e-4, 1e-4)) << "dbias";
  if (!with_bias) {
    EXPECT_EQ(dbias_fast, dbias_start) << "null dbias must leave the buffer alone";
  }
}

TEST_F(FastKernelsTest, MatmulMatchesRef) {
  for (int threads : kThreadCounts) {
    set_kernel_threads(threads);
    check_matmul(ref_, fast_, 37, 45, 53, true, 100);
    check_matmul(ref_, fast_, 1, 16, 3, true, 110);
    check_matmul(ref_, fast_, 5, 24, 1001, false, 120);  // LM head: odd V, no bias
  }
}

TEST_F(FastKernelsTest, MatmulBackwardWithoutDinp) {
  const int64_t N = 9, C = 17, OC = 5;
  const std::vector<float> inp = random_floats(N * C, 130), weight = random_floats(OC * C, 131),
                           dout = random_floats(N * OC, 132);
  std::vector<float> dweight_ref(OC * C, 0.0f), dweight_fast(OC * C, 0.0f);
  ref_.matmul_backward(nullptr, dweight_ref.data(), nullptr, dout.data(), inp.data(), weight.data(), N, C, OC);
  fast_.matmul_backward(nullptr, dweight_fast.data(), nullptr, dout.data(), inp.data(), weight.data(), N, C, OC);
  EXPECT_TRUE(all_close(dweight_fast, dweight_ref, 1e-4, 1e-4));
}

// A zero-bubble pipeline splits backward: dinp alone (dweight null), then dweight and dbias alone (dinp null).
// The two calls give exactly what one call gives, on both backends.
TEST_F(FastKernelsTest, MatmulBackwardSplitIntoInputAndWeightPasses) {
  const int64_t N = 11, C = 19, OC = 7;
  const std::vector<float> inp = random_floats(N * C, 140), weight = random_floats(OC * C, 141),
                           dout = random_floats(N * OC, 142);
  for (KernelBackend* backend : std::vector<KernelBackend*>{&ref_, &fast_}) {
    std::vector<float> dinp_one(N * C), dweight_one(OC * C, 0.5f), dbias_one(OC, 0.25f);
    backend->matmul_backward(dinp_one.data(), dweight_one.data(), dbias_one.data(), dout.data(), inp.data(),
                             weight.data(), N, C, OC);
    std::vector<float> dinp_split(N * C, -7.0f), dweight_split(OC * C, 0.5f), dbias_split(OC, 0.25f);
    backend->matmul_backward(dinp_split.data(), nullptr, nullptr, dout.data(), inp.data(), weight.data(), N, C, OC);
    EXPECT_EQ(dweight_split, std::vector<float>(OC * C, 0.5f)) << "the input pass touched dweight";
    backend->matmul_backward(nullptr, dweight_split.data(), dbias_split.data(), dout.data(), inp.data(),
                             weight.data(), N, C, OC);
    EXPECT_EQ(dinp_split, dinp_one);
    EXPECT_EQ(dweight_split, dweight_one);
    EXPECT_EQ(dbias_split, dbias_one);
  }
}

void check_layernorm(KernelBackend& ref, KernelBackend& fast, int64_t N, int64_t C, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "N=" << N << " C=" << C);
  // An offset mean exercises the two-pass variance.
  const std::vector<float> inp = random_floats(N * C, seed, 2.0f, 5.0f), weight = random_floats(C, seed + 1),
                           bias = random_floats(C, seed + 2), dout = random_floats(N * C, seed + 3);
  std::vector<float> out_ref(N * C), out_fast(N * C), mean_ref(N), mean_fast(N), rstd_ref(N), rstd_fast(N);
  ref.layernorm_forward(out_ref.data(), mean_ref.data(), rstd_ref.data(), inp.data(), weight.data(), bias.data(), N, C);
  fast.layernorm_forward(out_fast.data(), mean_fast.data(), rstd_fast.data(), inp.data(), weight.data(),
                         bias.data(), N, C);
  EXPECT_TRUE(all_close(out_fast, out_ref, 1e-4, 1e-4)) << "out";
  EXPECT_TRUE(all_close(mean_fast, mean_ref, 1e-5, 1e-5)) << "mean";
  EXPECT_TRUE(all_close(rstd_fast, rstd_ref, 1e-4, 1e-5)) << "rstd";

  const std::vector<float> dinp_start = random_floats(N * C, seed + 4), dw_start = random_floats(C, seed + 5),
                           db_start = random_floats(C, seed + 6);
  std::vector<float> dinp_ref = dinp_start, dinp_fast = dinp_start, dw_ref = dw_start, dw_fast = dw_start,
                     db_ref = db_start, db_fast = db_start;
  for (int call = 0; call < 2; ++call) {
    ref.layernorm_backward(dinp_ref.data(), dw_ref.data(), db_ref.data(), dout.data(), inp.data(), weight.data(),
                           mean_ref.data(), rstd_ref.data(), N, C);
    fast.layernorm_backward(dinp_fast.data(), dw_fast.data(), db_fast.data(), dout.data(), inp.data(),
                            weight.data(), mean_ref.data(), rstd_ref.data(), N, C);
  }
  EXPECT_TRUE(all_close(dinp_fast, dinp_ref, 1e-4, 1e-4)) << "dinp (accumulated)";
  EXPECT_TRUE(all_close(dw_fast, dw_ref, 1e-4, 1e-4)) << "dweight";
  EXPECT_TRUE(all_close(db_fast, db_ref, 1e-4, 1e-4)) << "dbias";
}

TEST_F(FastKernelsTest, LayernormMatchesRef) {
  for (int threads : kThreadCounts) {
    set_kernel_threads(threads);
    check_layernorm(ref_, fast_, 19, 37, 200);
    check_layernorm(ref_, fast_, 1, 384, 210);
    check_layernorm(ref_, fast_, 64, 16, 220);
  }
}

void check_attention(KernelBackend& ref, KernelBackend& fast, int64_t B, int64_t T, int64_t C, int64_t NH,
                     uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "B=" << B << " T=" << T << " C=" << C << " NH=" << NH);
  const std::vector<float> qkv = random_floats(B * T * 3 * C, seed, -2.0f, 2.0f),
                           dout = random_floats(B * T * C, seed + 1);
  std::vector<float> out_ref(B * T * C), out_fast(B * T * C, 7.0f), stats_ref(2 * B * NH * T),
      stats_fast(2 * B * NH * T, 7.0f);
  ref.attention_forward(out_ref.data(), stats_ref.data(), qkv.data(), B, T, C, NH);
  fast.attention_forward(out_fast.data(), stats_fast.data(), qkv.data(), B, T, C, NH);
  EXPECT_TRUE(all_close(out_fast, out_ref, 1e-4, 1e-5)) << "out";
  EXPECT_TRUE(all_close(stats_fast, stats_ref, 1e-5, 1e-5)) << "stats (row max, row sum)";
  // Each backward from its own forward, as the model runs them.
  std::vector<float> dqkv_ref(B * T * 3 * C), dqkv_fast(B * T * 3 * C, 7.0f);
  ref.attention_backward(dqkv_ref.data(), dout.data(), qkv.data(), out_ref.data(), stats_ref.data(), B, T, C, NH);
  fast.attention_backward(dqkv_fast.data(), dout.data(), qkv.data(), out_fast.data(), stats_fast.data(), B, T, C,
                          NH);
  EXPECT_TRUE(all_close(dqkv_fast, dqkv_ref, 1e-4, 1e-5)) << "dqkv";
}

TEST_F(FastKernelsTest, AttentionMatchesRef) {
  for (int threads : kThreadCounts) {
    set_kernel_threads(threads);
    check_attention(ref_, fast_, 2, 67, 24, 3, 300);   // T crosses one block boundary
    check_attention(ref_, fast_, 1, 1, 8, 1, 310);     // T = 1, NH = 1
    check_attention(ref_, fast_, 1, 130, 10, 1, 320);  // three blocks, last one short; HS odd
    check_attention(ref_, fast_, 3, 5, 12, 4, 330);    // more (b, h) pairs than rows
    check_attention(ref_, fast_, 1, 200, 128, 2, 340);  // HS = 64 as in GPT-2: full 6×4 register tiles
    check_attention(ref_, fast_, 1, 64, 40, 2, 350);    // exactly one tile; HS = 20 pads to 32
  }
}

// Scores ~1e13 (q, k ~ 1e6, as after a diverging optimizer step): float(m + log l) would be off by ~1e6,
// and s·scale - m fused into one multiply-add exceeds 0 by up to half an ulp (~1e6); either overflows
// e^x into inf/NaN (seen in cli.divergence). With (m, l) saved and the scaled scores rounded before the
// subtraction, forward and backward stay finite.
TEST_F(FastKernelsTest, AttentionStaysFiniteAtHugeScores) {
  const int64_t B = 1, T = 70, C = 32, NH = 2;
  std::vector<float> qkv = random_floats(B * T * 3 * C, 360, -1e6f, 1e6f);
  const std::vector<float> dout = random_floats(B * T * C, 361);
  std::vector<float> out_fast(B * T * C), stats_fast(2 * B * NH * T);
  fast_.attention_forward(out_fast.data(), stats_fast.data(), qkv.data(), B, T, C, NH);
  std::vector<float> dqkv_fast(B * T * 3 * C);
  fast_.attention_backward(dqkv_fast.data(), dout.data(), qkv.data(), out_fast.data(), stats_fast.data(), B, T, C, NH);
  for (float x : out_fast) ASSERT_TRUE(std::isfinite(x));
  for (float x : dqkv_fast) ASSERT_TRUE(std::isfinite(x));
  // Scores this large are ill-conditioned (float and double break near-ties differently), so instead of
  // matching the oracle element by element: each output is a convex combination of the visible v rows.
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t c = 0; c < C; ++c) {
      float lo = INFINITY, hi = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) {
        lo = std::min(lo, qkv[j * 3 * C + 2 * C + c]);
        hi = std::max(hi, qkv[j * 3 * C + 2 * C + c]);
      }
      ASSERT_GE(out_fast[i * C + c], lo - 1e-2f * std::abs(lo)) << i << "," << c;
      ASSERT_LE(out_fast[i * C + c], hi + 1e-2f * std::abs(hi)) << i << "," << c;
    }
  }
}

TEST_F(FastKernelsTest, EncoderMatchesRefWithRepeatedTokens) {
  const int64_t B = 3, T = 7, C = 21, V = 4;  // V small: tokens repeat a lot
  const std::vector<int32_t> tokens = random_tokens(B * T, V, 400);
  const std::vector<float> wte = random_floats(V * C, 401), wpe = random_floats(T * C, 402),
                           dout = random_floats(B * T * C, 403);
  for (int threads : kThreadCounts) {
    set_kernel_threads(threads);
    std::vector<float> out_ref(B * T * C), out_fast(B * T * C);
    ref_.encoder_forward(out_ref.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
    fast_.encoder_forward(out_fast.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
    EXPECT_EQ(out_fast, out_ref);
    std::vector<float> dwte_ref = random_floats(V * C, 404), dwte_fast = dwte_ref;
    std::vector<float> dwpe_ref = random_floats(T * C, 405), dwpe_fast = dwpe_ref;
    for (int call = 0; call < 2; ++call) {
      ref_.encoder_backward(dwte_ref.data(), dwpe_ref.data(), dout.data(), tokens.data(), B, T, C);
      fast_.encoder_backward(dwte_fast.data(), dwpe_fast.data(), dout.data(), tokens.data(), B, T, C);
    }
    EXPECT_TRUE(all_close(dwte_fast, dwte_ref, 1e-5, 1e-5));
    EXPECT_TRUE(all_close(dwpe_fast, dwpe_ref, 1e-5, 1e-5));
  }
}

TEST_F(FastKernelsTest, GeluMatchesRefIncludingTailsAndAliasing) {
  const int64_t n = 1037;
  std::vector<float> inp = random_floats(n, 500, -6.0f, 6.0f);
  inp[0] = -30.0f;  // exp saturates: tanh must still be exactly ±1-ish, not NaN
  inp[1] = 30.0f;
  inp[2] = 0.0f;
  const std::vector<float> dout = random_floats(n, 501);
  for (int threads : kThreadCounts) {
    set_kernel_threads(threads);
    std::vector<float> out_ref(n), out_fast(n);
    ref_.gelu_forward(out_ref.data(), inp.data(), n);
    fast_.gelu_forward(out_fast.data(), inp.data(), n);
    EXPECT_TRUE(all_close(out_fast, out_ref, 1e-5, 1e-6));
    std::vector<float> d_ref(n), d_fast = dout;  // fast runs in place: dinp aliases dout
    ref_.gelu_backward(d_ref.data(), inp.data(), dout.data(), n);
    fast_.gelu_backward(d_fast.data(), inp.data(), d_fast.data(), n);
    EXPECT_TRUE(all_close(d_fast, d_ref, 1e-5, 1e-6));
  }
}

void check_crossentropy(KernelBackend& ref, KernelBackend& fast, int64_t N, int64_t V, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "N=" << N << " V=" << V);
  std::vector<float> logits = random_floats(N * V, seed, -8.0f, 8.0f);
  logits[0] = 60.0f;  // one dominant logit: softmax ≈ one-hot, the rest underflow towards 0
  const std::vector<int32_t> targets = random_tokens(N, static_cast<int32_t>(V), seed + 1);
  std::vector<float> loss_ref(N), loss_fast(N), lse_ref(N), lse_fast(N);
  ref.crossentropy_forward(loss_ref.data(), lse_ref.data(), logits.data(), targets.data(), N, V);
  fast.crossentropy_forward(loss_fast.data(), lse_fast.data(), logits.data(), targets.data(), N, V);
  EXPECT_TRUE(all_close(loss_fast, loss_ref, 1e-5, 1e-5)) << "losses";
  EXPECT_TRUE(all_close(lse_fast, lse_ref, 1e-5, 1e-5)) << "lse";
  const float dloss = 1.0f / static_cast<float>(N);
  std::vector<float> d_ref(N * V, 7.0f);
  ref.crossentropy_backward(d_ref.data(), logits.data(), lse_ref.data(), targets.data(), dloss, N, V);
  std::vector<float> in_place = logits;  // fast overwrites the logits with their gradient
  fast.crossentropy_backward(in_place.data(), in_place.data(), lse_ref.data(), targets.data(), dloss, N, V);
  EXPECT_TRUE(all_close(in_place, d_ref, 1e-5, 1e-9)) << "dlogits in place";
  std::vector<float> separate(N * V, 7.0f);
  fast.crossentropy_backward(separate.data(), logits.data(), lse_ref.data(), targets.data(), dloss, N, V);
  EXPECT_EQ(separate, in_place) << "in place and out of place must agree";
}

TEST_F(FastKernelsTest, CrossentropyMatchesRefInPlace) {
  for (int threads : kThreadCounts) {
    set_kernel_threads(threads);
    check_crossentropy(ref_, fast_, 7, 1001, 600);
    check_crossentropy(ref_, fast_, 1, 3, 610);
    check_crossentropy(ref_, fast_, 4, 50257, 620);
  }
}

// The fused LM-head loss and backward against the separate kernels, at 1 and 3 threads, on a small odd vocabulary
// and on a wide one: losses and lse bit for bit; dinp and dweight within what a few-ulp difference per dlogit
// (e^{x−max}·dloss/Σ against dloss·e^{x−lse}, fast_crossentropy.cc) can make of them. The ref backend's default
// composition is exact.
constexpr double kFp32DlogitRtol = 1e-5;
TEST_F(FastKernelsTest, FusedHeadLossBackwardMatchesSeparateKernels) {
  for (int threads : kThreadCounts) {
    set_kernel_threads(threads);
    kernels_test::expect_fused_head_matches_separate(fast_, 7, 24, 1001, 630, kFp32DlogitRtol);
    kernels_test::expect_fused_head_matches_separate(fast_, 5, 40, FastBackend::kWideOutputChannels + 21, 640,
                                                    kFp32DlogitRtol);
    kernels_test::expect_fused_head_matches_separate(ref_, 3, 8, 97, 650, 0.0);  // the default composition: exact
  }
}

TEST_F(FastKernelsTest, AdamwMatchesRefOverSeveralSteps) {
  const int64_t n = 1003;
  std::vector<float> p_ref = random_floats(n, 700), p_fast = p_ref;
  std::vector<float> m_ref(n, 0.0f), m_fast(n, 0.0f), v_ref(n, 0.0f), v_fast(n, 0.0f);
  for (int threads : kThreadCounts) {
    set_kernel_threads(threads);
    for (int64_t t = 1; t <= 5; ++t) {
      const std::vector<float> g = random_floats(n, 710 + static_cast<uint32_t>(t), -0.1f, 0.1f);
      const int64_t step = t + (threads == kThreadCounts[0] ? 0 : 5);
      ref_.adamw_update(p_ref.data(), g.data(), m_ref.data(), v_ref.data(), n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
      fast_.adamw_update(p_fast.data(), g.data(), m_fast.data(), v_fast.data(), n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f,
                         step);
    }
  }
  EXPECT_TRUE(all_close(p_fast, p_ref, 1e-5, 1e-6)) << "params";
  EXPECT_TRUE(all_close(m_fast, m_ref, 1e-5, 1e-7)) << "m";
  EXPECT_TRUE(all_close(v_fast, v_ref, 1e-4, 1e-9)) << "v";
}

TEST_F(FastKernelsTest, ResidualSumSquaresScaleMatchRef) {
  const int64_t n = 100003;
  const std::vector<float> a = random_floats(n, 800), b = random_floats(n, 801);
  for (int threads : kThreadCounts) {
    set_kernel_threads(threads);
    std::vector<float> out_ref(n), out_fast = a;
    ref_.residual_forward(out_ref.data(), a.data(), b.data(), n);
    fast_.residual_forward(out_fast.data(), out_fast.data(), b.data(), n);  // out aliases a
    EXPECT_EQ(out_fast, out_ref);
    EXPECT_NEAR(fast_.sum_squares(a.data(), n), ref_.sum_squares(a.data(), n), 1e-9 * ref_.sum_squares(a.data(), n));
    EXPECT_EQ(fast_.sum_squares(a.data(), 0), 0.0);
    std::vector<float> s_ref = a, s_fast = a;
    ref_.scale(s_ref.data(), 0.37f, n);
    fast_.scale(s_fast.data(), 0.37f, n);
    EXPECT_EQ(s_fast, s_ref);
  }
}

}  // namespace
}  // namespace tessera

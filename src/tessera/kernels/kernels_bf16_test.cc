// bf16 matmuls (MatmulPrecision::kBf16): the rounding itself, the fast backend against the ref backend's
// explicit bf16 emulation, and both against fp32 within the error bf16 rounding allows.
//
// Error bound. Rounding to nearest bf16 (8 significant bits) changes x by at most u|x|, u = 2^-8. A product
// of two rounded operands is then within (2u + u²)|a·b| of the exact one, and is itself exact in fp32
// (8 + 8 significant bits), so
//   |bf16 matmul - fp32 matmul| ≤ (2u + u²) · Σ_k |a_k·b_k| + fp32 accumulation noise,
// checked element by element with Σ|a·b| computed by the fp32 oracle on |A|, |B|. Against the emulation
// (same rounded operands, double sums) only the summation order differs: checked at 1e-4 as for fp32.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tessera/kernels/bf16.h"
#include "tessera/kernels/fast_backend.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/kernels/kernels_test_util.h"
#include "tessera/kernels/ref_backend.h"
#include "tessera/kernels/tile_gemm_bf16.h"

namespace tessera {
namespace {

using kernels_test::all_close;
using kernels_test::random_floats;

constexpr double kBf16Unit = 1.0 / 256.0;                                  // u = 2^-8
constexpr double kBf16ProductBound = 2 * kBf16Unit + kBf16Unit * kBf16Unit;  // 2u + u²

TEST(Bf16Rounding, NearestEvenAndSpecialValues) {
  EXPECT_EQ(bf16::from_float(1.0f), 0x3f80);
  EXPECT_EQ(bf16::from_float(-2.0f), 0xc000);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even significand (1).
  EXPECT_EQ(bf16::from_float(1.0f + 0x1p-8f), 0x3f80);
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
  EXPECT_EQ(bf16::from_float(1.0f + 3 * 0x1p-8f), 0x3f82);
  EXPECT_EQ(bf16::from_float(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);  // above the tie: up
  EXPECT_EQ(bf16::round(1.0f + 0x1p-10f), 1.0f);
  EXPECT_EQ(bf16::from_float(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(bf16::from_float(std::numeric_limits<float>::max()), 0x7f80);  // overflows to inf, as IEEE
  EXPECT_TRUE(std::isnan(bf16::round(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(bf16::to_float(bf16::from_float(std::bit_cast<float>(0x7f800001u)))));  // signalling NaN
  EXPECT_EQ(bf16::to_float(0x4049), 3.140625f);
  // The relative error bound u = 2^-8 over a sweep of values, and it is nearly reached (not 2^-9).
  double worst = 0;
  for (float x : random_floats(10000, 7, -1e3f, 1e3f)) {
    EXPECT_LE(std::abs(bf16::round(x) - x), kBf16Unit * std::abs(x)) << x;
    worst = std::max(worst, std::abs(static_cast<double>(bf16::round(x)) - x) / std::abs(x));
  }
  EXPECT_GT(worst, 0.9 * kBf16Unit);
}

std::unique_ptr<KernelBackend> backend(const char* name, MatmulPrecision precision) {
  auto made = make_kernel_backend(name, {.matmul_precision = precision});
  EXPECT_TRUE(made.ok()) << made.status().message();
  return std::move(made).value();
}

std::vector<float> absolute(std::vector<float> x) {
  for (float& v : x) v = std::abs(v);
  return x;
}

// |actual - fp32| ≤ (2u + u²)·magnitude + 1e-5 element-wise, magnitude = Σ|a·b| of that element.
::testing::AssertionResult within_bf16_bound(const std::vector<float>& actual, const std::vector<float>& fp32,
                                             const std::vector<float>& magnitude) {
  for (size_t i = 0; i < actual.size(); ++i) {
    const double allowed = kBf16ProductBound * magnitude[i] + 1e-5;
    if (!(std::abs(static_cast<double>(actual[i]) - fp32[i]) <= allowed)) {
      return ::testing::AssertionFailure() << "element " << i << ": " << actual[i] << " vs fp32 " << fp32[i]
                                           << ", allowed ±" << allowed;
    }
  }
  return ::testing::AssertionSuccess();
}

class Bf16MatmulTest : public ::testing::Test {
 protected:
  void TearDown() override { set_kernel_threads(2); }
  std::unique_ptr<KernelBackend> fast_ = backend("fast", MatmulPrecision::kBf16);
  std::unique_ptr<KernelBackend> emulated_ = backend("ref", MatmulPrecision::kBf16);
  RefBackend fp32_;
};

// Forward and backward (two accumulating calls) of the fast bf16 matmul vs the bf16 emulation and vs fp32.
void check_bf16_matmul(KernelBackend& fast, KernelBackend& emulated, KernelBackend& fp32, int64_t N, int64_t C,
                       int64_t OC, bool with_bias, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "N=" << N << " C=" << C << " OC=" << OC << " bias=" << with_bias);
  const std::vector<float> inp = random_floats(N * C, seed), weight = random_floats(OC * C, seed + 1),
                           bias = random_floats(OC, seed + 2), dout = random_floats(N * OC, seed + 3);
  const float* b = with_bias ? bias.data() : nullptr;
  std::vector<float> out_fast(N * OC, 7.0f), out_emul(N * OC), out_fp32(N * OC), out_mag(N * OC);
  fast.matmul_forward(out_fast.data(), inp.data(), weight.data(), b, N, C, OC);
  emulated.matmul_forward(out_emul.data(), inp.data(), weight.data(), b, N, C, OC);
  fp32.matmul_forward(out_fp32.data(), inp.data(), weight.data(), b, N, C, OC);
  fp32.matmul_forward(out_mag.data(), absolute(inp).data(), absolute(weight).data(), nullptr, N, C, OC);
  EXPECT_TRUE(all_close(out_fast, out_emul, 1e-4, 1e-4)) << "forward vs emulation";
  EXPECT_TRUE(within_bf16_bound(out_fast, out_fp32, out_mag)) << "forward vs fp32";

  // Parameter gradients start non-zero and accumulate over two calls: start + 2·grad.
  const std::vector<float> dweight_start = random_floats(OC * C, seed + 4), dbias_start = random_floats(OC, seed + 5);
  std::vector<float> dinp_fast(N * C, 7.0f), dinp_emul(N * C), dinp_fp32(N * C), dinp_mag(N * C);
  std::vector<float> dweight_fast = dweight_start, dweight_emul = dweight_start, dweight_fp32 = dweight_start;
  std::vector<float> dweight_mag(OC * C, 0.0f);
  std::vector<float> dbias_fast = dbias_start, dbias_fp32 = dbias_start;
  for (int call = 0; call < 2; ++call) {
    fast.matmul_backward(dinp_fast.data(), dweight_fast.data(), with_bias ? dbias_fast.data() : nullptr,
                         dout.data(), inp.data(), weight.data(), N, C, OC);
    emulated.matmul_backward(dinp_emul.data(), dweight_emul.data(), nullptr, dout.data(), inp.data(),
                             weight.data(), N, C, OC);
    fp32.matmul_backward(dinp_fp32.data(), dweight_fp32.data(), with_bias ? dbias_fp32.data() : nullptr,
                         dout.data(), inp.data(), weight.data(), N, C, OC);
    fp32.matmul_backward(dinp_mag.data(), dweight_mag.data(), nullptr, absolute(dout).data(),
                         absolute(inp).data(), absolute(weight).data(), N, C, OC);
  }
  EXPECT_TRUE(all_close(dinp_fast, dinp_emul, 1e-4, 1e-4)) << "dinp vs emulation";
  EXPECT_TRUE(all_close(dweight_fast, dweight_emul, 1e-4, 1e-4)) << "dweight vs emulation";
  EXPECT_TRUE(within_bf16_bound(dinp_fast, dinp_fp32, dinp_mag)) << "dinp vs fp32";
  // dweight_mag holds 2·Σ|dout·inp| (two calls), the bound of the two accumulated products.
  EXPECT_TRUE(within_bf16_bound(dweight_fast, dweight_fp32, dweight_mag)) << "dweight vs fp32";
  // dbias sums the fp32 dout in fp32 in either precision.
  EXPECT_TRUE(all_close(dbias_fast, dbias_fp32, 1e-5, 1e-5)) << "dbias";
  if (!with_bias) {
    EXPECT_EQ(dbias_fast, dbias_start);
  }
}

// The last two shapes take the wide-output path (all three products in blocks of kWideProductBlock output
// channels): a last block of one channel (C = 19) and of 21 channels (C = 40).
TEST_F(Bf16MatmulTest, MatchesEmulationAndFp32BoundOnAwkwardShapes) {
  const struct {
    int64_t N, C, OC;
  } shapes[] = {{1, 1, 1},     {3, 5, 7},      {17, 33, 65}, {64, 48, 96},
                {130, 100, 31}, {40, 256, 513}, {7, 19, FastBackend::kWideOutputChannels + 1},
                {9, 40, FastBackend::kWideOutputChannels + 21}};
  uint32_t seed = 100;
  for (int threads : {1, 3}) {
    set_kernel_threads(threads);
    for (const auto& s : shapes) {
      for (bool with_bias : {false, true}) {
        check_bf16_matmul(*fast_, *emulated_, fp32_, s.N, s.C, s.OC, with_bias, seed);
        seed += 10;
      }
    }
  }
}

// The fused head with bf16 products writes the dlogits rounded to bf16 straight into the products' operand. Its
// fp32 dlogits differ from the separate kernels' by a few ulps (fast_crossentropy.cc), which can move a bf16
// rounding by one bf16 ulp (2^-8): dinp and dweight within that per dlogit, losses and lse bit for bit (narrow and
// wide paths).
constexpr double kBf16DlogitRtol = 0x1p-7;
TEST_F(Bf16MatmulTest, FusedHeadLossBackwardMatchesSeparateKernels) {
  for (int threads : {1, 3}) {
    set_kernel_threads(threads);
    kernels_test::expect_fused_head_matches_separate(*fast_, 7, 24, 1001, 660, kBf16DlogitRtol);
    kernels_test::expect_fused_head_matches_separate(*fast_, 5, 40, FastBackend::kWideOutputChannels + 21, 670,
                                                    kBf16DlogitRtol);
  }
}

// Head chunks in a group (HeadGroup): the bf16 fast backend keeps each chunk's dlogits and runs the group's dinp
// and dW products once, at its last chunk; the results equal chunk-by-chunk calls up to fp32 summation order
// (losses and lse bit for bit). The deferral itself is checked: dweight is untouched until the group's last chunk,
// so a backend that silently ran the products per chunk fails here. The fp32 backend holds no dlogits
// (head_group_dlogit_bytes 0) and must give the same bits with or without a group.
void expect_grouped_head_matches_chunks(KernelBackend& backend, int64_t C, int64_t V, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << backend.name() << " C=" << C << " V=" << V);
  const int64_t chunks[] = {5, 5, 4}, N = 14;
  const std::vector<float> inp = random_floats(N * C, seed), weight = random_floats(V * C, seed + 1, -0.5f, 0.5f),
                           logits = random_floats(N * V, seed + 2, -4.0f, 4.0f),
                           dweight_start = random_floats(V * C, seed + 3);
  const std::vector<int32_t> targets = kernels_test::random_tokens(N, static_cast<int32_t>(V), seed + 4);
  const float dloss = 1.0f / static_cast<float>(N);
  const bool defers = backend.head_group_dlogit_bytes() > 0;
  auto run = [&](bool grouped, std::vector<float>& losses, std::vector<float>& lse, std::vector<float>& dinp,
                 std::vector<float>& dweight) {
    losses.assign(N, 0.0f), lse.assign(N, 0.0f), dinp.assign(N * C, 9.0f), dweight = dweight_start;
    std::vector<float> chunk_logits = logits;
    int64_t n0 = 0;
    for (const int64_t rows : chunks) {
      const HeadGroup group = grouped ? HeadGroup{.row = n0, .rows = N} : HeadGroup{};
      backend.head_loss_backward(losses.data() + n0, lse.data() + n0, chunk_logits.data() + n0 * V,
                                 targets.data() + n0, dloss, dinp.data() + n0 * C, dweight.data(),
                                 inp.data() + n0 * C, weight.data(), rows, C, V, group);
      n0 += rows;
      const bool last = n0 == N;
      if (grouped && defers && !last) {
        EXPECT_EQ(dweight, dweight_start) << "products ran before the group's end";
      } else {
        EXPECT_NE(dweight, dweight_start) << "products due after row " << n0;
      }
    }
  };
  std::vector<float> losses_a, lse_a, dinp_a, dweight_a, losses_b, lse_b, dinp_b, dweight_b;
  run(false, losses_a, lse_a, dinp_a, dweight_a);
  run(true, losses_b, lse_b, dinp_b, dweight_b);
  EXPECT_EQ(losses_b, losses_a) << "losses";
  EXPECT_EQ(lse_b, lse_a) << "lse";
  if (!defers) {
    EXPECT_EQ(dinp_b, dinp_a) << "dinp";
    EXPECT_EQ(dweight_b, dweight_a) << "dweight";
    return;
  }
  // The same bf16 dlogits and operands, summed in another order: within a few fp32 roundings of the sums'
  // magnitudes (|dlogit| ≤ dloss, so Σ|terms| ≤ dloss·Σ|operand|).
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      double magnitude = 0;
      for (int64_t v = 0; v < V; ++v) magnitude += dloss * std::abs(weight[v * C + c]);
      EXPECT_NEAR(dinp_b[n * C + c], dinp_a[n * C + c], 1e-5 * magnitude) << "dinp[" << n << "," << c << "]";
    }
  }
  double worst = 0;
  for (int64_t v = 0; v < V; ++v) {
    for (int64_t c = 0; c < C; ++c) {
      double magnitude = std::abs(dweight_start[v * C + c]);
      for (int64_t n = 0; n < N; ++n) magnitude += dloss * std::abs(inp[n * C + c]);
      worst = std::max(worst, std::abs(static_cast<double>(dweight_b[v * C + c]) - dweight_a[v * C + c]) / magnitude);
    }
  }
  EXPECT_LT(worst, 1e-5) << "dweight";
}

TEST_F(Bf16MatmulTest, FusedHeadInGroupsMatchesChunkByChunk) {
  for (int threads : {1, 3}) {
    set_kernel_threads(threads);
    expect_grouped_head_matches_chunks(*fast_, 24, 1001, 700);
    expect_grouped_head_matches_chunks(*fast_, 40, FastBackend::kWideOutputChannels + 21, 710);
    FastBackend fp32_fast;
    expect_grouped_head_matches_chunks(fp32_fast, 24, 1001, 720);
  }
}

// Operands 1 + 2^-10 are not bf16 values: bf16 rounds them to exactly 1, fp32 keeps them. The bf16 results
// are exact sums of ones and the fp32 ones differ from them by K·2^-10 ≫ fp32 rounding, so a bf16 path
// that silently ran in fp32 fails here.
TEST_F(Bf16MatmulTest, RoundsOperandsToBf16) {
  const int64_t N = 5, C = 24, OC = 40;
  const float off_grid = 1.0f + 0x1p-10f;
  const std::vector<float> inp(N * C, off_grid), weight(OC * C, off_grid), dout(N * OC, off_grid);
  std::vector<float> out(N * OC), dinp(N * C), dweight(OC * C, 0.0f);
  fast_->matmul_forward(out.data(), inp.data(), weight.data(), nullptr, N, C, OC);
  fast_->matmul_backward(dinp.data(), dweight.data(), nullptr, dout.data(), inp.data(), weight.data(), N, C, OC);
  EXPECT_EQ(out, std::vector<float>(N * OC, static_cast<float>(C)));
  EXPECT_EQ(dinp, std::vector<float>(N * C, static_cast<float>(OC)));
  EXPECT_EQ(dweight, std::vector<float>(OC * C, static_cast<float>(N)));

  std::vector<float> out_fp32(N * OC);
  fp32_.matmul_forward(out_fp32.data(), inp.data(), weight.data(), nullptr, N, C, OC);
  EXPECT_NEAR(out_fp32[0], C * off_grid * off_grid, 1e-5);
  EXPECT_GT(out_fp32[0] - out[0], C * 0x1p-10f);
}

// Resident weights (set_matmul_weights): the same bits as converting per call, for a weight inside the
// declared range; the copy really is what the matmuls read (changing the fp32 values without declaring
// them again leaves the result unchanged), declaring again picks the change up, and a weight that is not
// wholly inside the range is converted per call. For wide outputs too (the LM head's blocked path), and at
// kPackedWeightMinRows rows, where the forward and dinp read the weights packed in oneDNN's layout (packed again
// only after a declaration).
TEST_F(Bf16MatmulTest, ResidentWeightsAreTheRoundedWeightsAndFollowDeclarations) {
  for (const auto& [N, OC] : {std::pair{int64_t{5}, int64_t{24}}, std::pair{int64_t{5}, FastBackend::kWideOutputChannels},
                              std::pair{FastBackend::kPackedWeightMinRows, int64_t{24}}}) {
    SCOPED_TRACE(testing::Message() << "N=" << N << " OC=" << OC);
    const int64_t C = 12, offset = 7;
    std::vector<float> params = random_floats(offset + OC * C + 3, 900);
    const float* weight = params.data() + offset;
    const std::vector<float> inp = random_floats(N * C, 901), dout = random_floats(N * OC, 902);
    auto run = [&](const float* w) {
      std::vector<float> out(N * OC), dinp(N * C), dweight(OC * C, 0.0f);
      fast_->matmul_forward(out.data(), inp.data(), w, nullptr, N, C, OC);
      fast_->matmul_backward(dinp.data(), dweight.data(), nullptr, dout.data(), inp.data(), w, N, C, OC);
      out.insert(out.end(), dinp.begin(), dinp.end());
      out.insert(out.end(), dweight.begin(), dweight.end());
      return out;
    };
    const std::vector<float> per_call = run(weight);
    fast_->set_matmul_weights(params.data(), static_cast<int64_t>(params.size()));
    EXPECT_EQ(run(weight), per_call);
    for (int64_t i = 0; i < OC * C; ++i) params[offset + i] *= 2.0f;
    EXPECT_EQ(run(weight), per_call) << "the resident bf16 copy is used until declared again";
    fast_->set_matmul_weights(params.data(), static_cast<int64_t>(params.size()));
    const std::vector<float> doubled = run(weight);
    EXPECT_NE(doubled, per_call);
    fast_->clear_matmul_weights();
    EXPECT_EQ(run(weight), doubled);
    // Declared range one element short of the weight's end: converted per call, so the next change shows.
    fast_->set_matmul_weights(params.data(), offset + OC * C - 1);
    for (int64_t i = 0; i < OC * C; ++i) params[offset + i] *= 0.5f;
    EXPECT_EQ(run(weight), per_call);
    fast_->clear_matmul_weights();
  }
}

// bf16 attention (fast_attention_bf16.cc) against the fp32 ref on the same bf16-rounded q, k, v and dout, so that
// what is left is the kernel's own rounding of P (before P·V, Pᵀ·dO) and dS (before dSᵀ·Q, dS·K):
//   out_i = Σ_j p_ij v_j with each p_ij rounded: |Δout_i| ≤ u·Σ_j p_ij |v_j|, which is the ref attention of |v|
//   (the weights p do not depend on v), so out is checked element by element against u·attention(q, k, |v|);
//   the gradients against 2u of the largest |element| of their own third (dq, dk, dv): each is a sum of terms of
//   which one factor was rounded by at most u (measured: at most 0.7u of the largest, on these shapes).
// Odd HS keeps the fp32 path (bit for bit the fp32 fast backend's), as does a build without AVX-512-BF16; an even
// HS really runs the bf16 one (its output differs from the fp32 kernel's on the same rounded inputs).
void check_bf16_attention(KernelBackend& bf16_fast, KernelBackend& fp32_fast, KernelBackend& ref, int64_t B, int64_t T,
                          int64_t C, int64_t NH, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "B=" << B << " T=" << T << " C=" << C << " NH=" << NH);
  std::vector<float> qkv = random_floats(B * T * 3 * C, seed, -2.0f, 2.0f), dout = random_floats(B * T * C, seed + 1);
  for (float& x : qkv) x = bf16::round(x);
  for (float& x : dout) x = bf16::round(x);
  std::vector<float> qkv_abs_v = qkv;
  for (int64_t row = 0; row < B * T; ++row) {
    for (int64_t c = 2 * C; c < 3 * C; ++c) qkv_abs_v[row * 3 * C + c] = std::abs(qkv_abs_v[row * 3 * C + c]);
  }
  const int64_t stats_n = 2 * B * NH * T;
  std::vector<float> out(B * T * C, 7.0f), stats(stats_n, 7.0f), out_ref(B * T * C), stats_ref(stats_n),
      out_mag(B * T * C), stats_mag(stats_n), out_fp32(B * T * C), stats_fp32(stats_n);
  bf16_fast.attention_forward(out.data(), stats.data(), qkv.data(), B, T, C, NH);
  ref.attention_forward(out_ref.data(), stats_ref.data(), qkv.data(), B, T, C, NH);
  ref.attention_forward(out_mag.data(), stats_mag.data(), qkv_abs_v.data(), B, T, C, NH);
  fp32_fast.attention_forward(out_fp32.data(), stats_fp32.data(), qkv.data(), B, T, C, NH);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_LE(std::abs(static_cast<double>(out[i]) - out_ref[i]), kBf16Unit * out_mag[i] + 1e-5) << "out " << i;
  }
  EXPECT_TRUE(all_close(stats, stats_ref, 1e-5, 1e-5)) << "stats: the scores are exact products of the rounded inputs";
  std::vector<float> dqkv(B * T * 3 * C, 7.0f), dqkv_ref(B * T * 3 * C), dqkv_fp32(B * T * 3 * C);
  bf16_fast.attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), stats.data(), B, T, C, NH);
  ref.attention_backward(dqkv_ref.data(), dout.data(), qkv.data(), out_ref.data(), stats_ref.data(), B, T, C, NH);
  fp32_fast.attention_backward(dqkv_fp32.data(), dout.data(), qkv.data(), out_fp32.data(), stats_fp32.data(), B, T, C,
                               NH);
  for (int part = 0; part < 3; ++part) {
    double largest = 0;
    for (int64_t row = 0; row < B * T; ++row) {
      for (int64_t c = part * C; c < (part + 1) * C; ++c) {
        largest = std::max(largest, std::abs(double{dqkv_ref[row * 3 * C + c]}));
      }
    }
    for (int64_t row = 0; row < B * T; ++row) {
      for (int64_t c = part * C; c < (part + 1) * C; ++c) {
        const size_t i = static_cast<size_t>(row * 3 * C + c);
        ASSERT_LE(std::abs(static_cast<double>(dqkv[i]) - dqkv_ref[i]), 2 * kBf16Unit * largest + 1e-6)
            << "d" << "qkv"[part] << " row " << row << " column " << c - part * C;
      }
    }
  }
  if (!tile_bf16::kAvailable || (C / NH) % 2 != 0) {
    EXPECT_EQ(out, out_fp32) << "odd HS (or a build without AVX-512-BF16): the fp32 kernel";
    EXPECT_EQ(dqkv, dqkv_fp32) << "odd HS (or a build without AVX-512-BF16): the fp32 kernel";
  } else if (T > 1) {
    EXPECT_NE(out, out_fp32) << "even HS: the bf16 kernel (P rounded)";
    EXPECT_NE(dqkv, dqkv_fp32) << "even HS: the bf16 kernel (P, dS rounded)";
  }
}

TEST_F(Bf16MatmulTest, AttentionMatchesRefWithinItsRounding) {
  auto fp32_fast = backend("fast", MatmulPrecision::kFp32);
  for (int threads : {1, 3}) {
    set_kernel_threads(threads);
    check_bf16_attention(*fast_, *fp32_fast, fp32_, 2, 67, 24, 3, 800);    // T crosses a block boundary; HS = 8
    check_bf16_attention(*fast_, *fp32_fast, fp32_, 1, 1, 8, 1, 810);      // T = 1
    check_bf16_attention(*fast_, *fp32_fast, fp32_, 1, 131, 12, 1, 820);   // three blocks, T odd; HS = 12 pads to 16
    check_bf16_attention(*fast_, *fp32_fast, fp32_, 1, 130, 10, 2, 830);   // HS = 5 (odd): the fp32 path
    check_bf16_attention(*fast_, *fp32_fast, fp32_, 3, 5, 12, 4, 840);     // more (b, h) pairs than rows; HS = 3 (odd)
    check_bf16_attention(*fast_, *fp32_fast, fp32_, 1, 200, 128, 2, 850);  // HS = 64 as in GPT-2
    check_bf16_attention(*fast_, *fp32_fast, fp32_, 1, 64, 44, 2, 860);    // exactly one tile; HS = 22 pads to 32
  }
}

TEST(Bf16MatmulFactory, FastBf16IsAvailableAndRefStaysFp32ByDefault) {
  auto fast = make_kernel_backend("fast", {.matmul_precision = MatmulPrecision::kBf16});
  ASSERT_TRUE(fast.ok()) << fast.status().message();  // the development machine has AVX-512(-BF16)
  EXPECT_STREQ((*fast)->name(), "fast");
  // The default ref backend multiplies in fp32: 1 + 2^-10 survives.
  auto ref = make_kernel_backend("ref");
  ASSERT_TRUE(ref.ok());
  const float x = 1.0f + 0x1p-10f, one = 1.0f;
  float out = 0.0f;
  (*ref)->matmul_forward(&out, &x, &one, nullptr, 1, 1, 1);
  EXPECT_EQ(out, x);
}

}  // namespace
}  // namespace tessera

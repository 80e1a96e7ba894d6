// Test helpers for the kernel tests: seeded random buffers and element-wise closeness checks.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tessera/kernels/kernel_backend.h"

namespace tessera::kernels_test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

inline std::vector<int32_t> random_tokens(size_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> v(n);
  for (int32_t& x : v) x = dist(gen);
  return v;
}

// Every |actual - expected| ≤ atol + rtol·|expected|; reports the worst element.
inline ::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected,
                                            double rtol, double atol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " != expected " << expected.size();
  }
  double worst_excess = 0.0;
  size_t worst = actual.size();
  for (size_t i = 0; i < actual.size(); ++i) {
    const double err = std::abs(static_cast<double>(actual[i]) - expected[i]);
    const double allowed = atol + rtol * std::abs(static_cast<double>(expected[i]));
    if (!(err <= allowed) && (worst == actual.size() || err - allowed > worst_excess)) {
      worst_excess = err - allowed;
      worst = i;
    }
  }
  if (worst == actual.size()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "element " << worst << ": " << actual[worst] << " vs expected "
                                       << expected[worst] << " (rtol " << rtol << ", atol " << atol << ")";
}

// The backend's head_loss_backward against its own three separate calls (crossentropy_forward, _backward in
// place, matmul_backward): losses and lse must be equal bit for bit; dinp and dweight (accumulated onto a
// non-zero start) equal too when dlogit_rtol = 0, else within what a relative difference of dlogit_rtol in every
// dlogit can make of them: |Δdinp[n,c]| ≤ dlogit_rtol·Σ_v |dlogits[n,v]·W[v,c]|, |Δdweight[v,c]| ≤
// dlogit_rtol·Σ_n |dlogits[n,v]·inp[n,c]|, plus one rounding of the result (the fused kernel may form the
// dlogits in another rounding, e.g. e^{x−max}/Σ for e^{x−lse}). Row 0's target is −1 ("not in these columns") when N > 1.
inline void expect_fused_head_matches_separate(KernelBackend& backend, int64_t N, int64_t C, int64_t V, uint32_t seed,
                                               double dlogit_rtol) {
  SCOPED_TRACE(::testing::Message() << backend.name() << " N=" << N << " C=" << C << " V=" << V);
  const std::vector<float> inp = random_floats(N * C, seed), weight = random_floats(V * C, seed + 1, -0.5f, 0.5f),
                           logits = random_floats(N * V, seed + 2, -4.0f, 4.0f),
                           dweight_start = random_floats(V * C, seed + 3);
  std::vector<int32_t> targets = random_tokens(N, static_cast<int32_t>(V), seed + 4);
  if (N > 1) targets[0] = -1;
  const float dloss = 1.0f / static_cast<float>(N);
  std::vector<float> losses_a(N), lse_a(N), dinp_a(N * C, 7.0f), dweight_a = dweight_start, logits_a = logits;
  backend.crossentropy_forward(losses_a.data(), lse_a.data(), logits_a.data(), targets.data(), N, V);
  backend.crossentropy_backward(logits_a.data(), logits_a.data(), lse_a.data(), targets.data(), dloss, N, V);
  backend.matmul_backward(dinp_a.data(), dweight_a.data(), nullptr, logits_a.data(), inp.data(), weight.data(), N, C, V);
  std::vector<float> losses_b(N), lse_b(N), dinp_b(N * C, -7.0f), dweight_b = dweight_start, logits_b = logits;
  backend.head_loss_backward(losses_b.data(), lse_b.data(), logits_b.data(), targets.data(), dloss, dinp_b.data(),
                             dweight_b.data(), inp.data(), weight.data(), N, C, V);
  EXPECT_EQ(losses_b, losses_a) << "losses";
  EXPECT_EQ(lse_b, lse_a) << "lse";
  EXPECT_NE(dweight_b, dweight_start) << "the head's dweight must have been accumulated";
  if (dlogit_rtol == 0) {
    EXPECT_EQ(dinp_b, dinp_a) << "dinp";
    EXPECT_EQ(dweight_b, dweight_a) << "dweight";
    return;
  }
  // logits_a holds the separate kernels' fp32 dlogits.
  std::vector<double> dinp_bound(N * C, 0.0), dweight_bound(V * C, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t v = 0; v < V; ++v) {
      const double d = std::abs(static_cast<double>(logits_a[n * V + v]));
      for (int64_t c = 0; c < C; ++c) {
        dinp_bound[n * C + c] += d * std::abs(static_cast<double>(weight[v * C + c]));
        dweight_bound[v * C + c] += d * std::abs(static_cast<double>(inp[n * C + c]));
      }
    }
  }
  auto within = [&](const std::vector<float>& a, const std::vector<float>& b, const std::vector<double>& bound,
                    const char* what) {
    size_t failures = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      // plus one rounding of the result itself (dweight adds onto a start value of its own magnitude)
      const double allowed = dlogit_rtol * bound[i] + 0x1p-23 * std::abs(static_cast<double>(a[i])) + 1e-30;
      if (std::abs(static_cast<double>(a[i]) - b[i]) > allowed && failures++ < 3) {
        ADD_FAILURE() << what << "[" << i << "]: fused " << b[i] << " vs separate " << a[i] << " (allowed " << allowed
                      << ")";
      }
    }
    EXPECT_EQ(failures, 0u) << what;
  };
  within(dinp_a, dinp_b, dinp_bound, "dinp");
  within(dweight_a, dweight_b, dweight_bound, "dweight");
}

}  // namespace tessera::kernels_test

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
// place, matmul_backward): losses, lse, dinp and dweight (accumulated onto a non-zero start) must be equal bit
// for bit. Row 0's target is −1 ("not in these columns") when N > 1.
inline void expect_fused_head_equals_separate(KernelBackend& backend, int64_t N, int64_t C, int64_t V, uint32_t seed) {
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
  EXPECT_EQ(dinp_b, dinp_a) << "dinp";
  EXPECT_EQ(dweight_b, dweight_a) << "dweight";
  EXPECT_NE(dweight_b, dweight_start) << "the head's dweight must have been accumulated";
}

}  // namespace tessera::kernels_test

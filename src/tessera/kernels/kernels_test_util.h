// Test helpers for the kernel tests: seeded random buffers and element-wise closeness checks.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

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

}  // namespace tessera::kernels_test

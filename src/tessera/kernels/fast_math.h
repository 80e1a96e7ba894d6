// Small vectorisable math helpers shared by the fast kernels (internal to kernels/).
#pragma once

#include <algorithm>
#include <bit>
#include <omp.h>

#include <cmath>
#include <cstdint>

namespace tessera::fast_math {

// e^x for x in float range, relative error ~2e-7, in plain arithmetic that GCC vectorises inside
// `#pragma omp simd` loops (no libm call). x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-7 Taylor
// polynomial (truncation r^8/8! ≤ 5e-9), 2^n built in the exponent bits. Inputs below -87 return
// ~1.6e-38 instead of 0 (harmless next to a softmax denominator ≥ 1); inputs above 88 saturate.
inline float exp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;  // ln2 split so that n·kLn2Hi is exact
  constexpr float kLn2Lo = 1.42860682030941723212e-6f;
  // Round-to-nearest by adding and removing 1.5·2^23 (|x·log2e| < 2^22): std::floor would not be
  // vectorised by GCC without -fno-trapping-math.
  constexpr float kRoundMagic = 12582912.0f;
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = (x * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

// max_i x[i] (-inf for n = 0). Written as 16 independent lane maxima: GCC keeps a `reduction(max:)` over
// std::max scalar (NaN ordering), but vectorises this element-wise form.
inline float max_value(const float* x, int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes];
  for (float& lane : lanes) lane = -INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) lanes[l] = std::max(lanes[l], x[i + l]);
  }
  float result = -INFINITY;
  for (float lane : lanes) result = std::max(result, lane);
  for (; i < n; ++i) result = std::max(result, x[i]);
  return result;
}

// Σ_i e^{x[i] - shift} with 16 lane partial sums (vectorised like max_value), handing each term to
// keep(i, term): sum_exp_shifted drops them, exp_shifted_in_place writes them back. One loop, so both return the
// same sum bit for bit.
template <typename Keep>
inline float sum_exp_shifted_keeping(const float* x, int64_t n, float shift, Keep keep) {
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      const float e = exp(x[i + l] - shift);
      keep(i + l, e);
      lanes[l] += e;
    }
  }
  float result = 0.0f;
  for (float lane : lanes) result += lane;
  for (; i < n; ++i) {
    const float e = exp(x[i] - shift);
    keep(i, e);
    result += e;
  }
  return result;
}

inline float sum_exp_shifted(const float* x, int64_t n, float shift) {
  return sum_exp_shifted_keeping(x, n, shift, [](int64_t, float) {});
}

// sum_exp_shifted that also keeps the terms: x[i] becomes e^{x[i] - shift}.
inline float exp_shifted_in_place(float* x, int64_t n, float shift) {
  return sum_exp_shifted_keeping(x, n, shift, [x](int64_t i, float e) { x[i] = e; });
}

// [begin, end) of part `part` when `count` items are split into `parts` contiguous near-equal ranges.
inline void split_range(int64_t count, int parts, int part, int64_t* begin, int64_t* end) {
  const int64_t base = count / parts;
  const int64_t extra = count % parts;
  *begin = part * base + std::min<int64_t>(part, extra);
  *end = *begin + base + (part < extra ? 1 : 0);
}

// Splits [0, n) into one contiguous range per OpenMP thread and calls body(begin, end) on each: the
// body's inner loop then carries its own `#pragma omp simd`, which GCC vectorises more reliably than a
// combined `parallel for simd` around inlined math.
template <typename Body>
void parallel_ranges(int64_t n, Body&& body) {
#pragma omp parallel
  {
    int64_t begin = 0;
    int64_t end = 0;
    split_range(n, omp_get_num_threads(), omp_get_thread_num(), &begin, &end);
    body(begin, end);
  }
}

}  // namespace tessera::fast_math

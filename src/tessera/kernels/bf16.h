// bfloat16: the top 16 bits of an IEEE float32 (1 sign, 8 exponent, 7 stored mantissa bits), so its range is
// float32's and its precision 8 significant bits: rounding to bf16 changes a value by at most u = 2^-8 relative
// (half an ulp, 2^-7 of the leading power of two, for an 8-bit significand). Conversions here round to nearest, ties to even, like
// torch.bfloat16 and the AVX-512-BF16 vcvtne2ps2bf16 instruction on normal numbers; NaN stays NaN (quiet).
// Values are carried as uint16_t bit patterns: C++20 has no portable bf16 type.
#pragma once

#include <bit>
#include <cstdint>

namespace tessera::bf16 {

// Round-to-nearest-even: add 0x7fff plus the lowest kept bit, then truncate. An overflow past the largest
// finite bf16 carries into the exponent and gives ±inf, as IEEE rounding does.
inline uint16_t from_float(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // NaN → quiet NaN
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

inline float to_float(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

// x rounded to the nearest bf16, returned as float (what a bf16 matmul sees of an fp32 operand).
inline float round(float x) { return to_float(from_float(x)); }

}  // namespace tessera::bf16

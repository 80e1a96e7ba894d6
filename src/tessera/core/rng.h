// Counter-based random numbers (Philox4x32-10, Salmon et al. SC'11).
//
// Every random draw in Tessera is a pure function of (seed, purpose, index, draw): there is no hidden
// generator state, so a resumed run, or the same run laid out over other ranks, draws the same numbers
// for the same global index (docs/architecture.md, "Determinism").
//   key     = (seed low 32 bits, seed high 32 bits ^ purpose)
//   counter = (index low, index high, draw low, draw high)
// Each Philox call yields 4 uint32; RngStream hands them out one by one, advancing `draw`.
#pragma once

#include <array>
#include <cstdint>

namespace tessera {

// What a stream is for; keeps the streams of one seed independent.
enum class RngPurpose : uint32_t {
  kInit = 1,      // parameter initialisation, index = parameter tensor id
  kData = 2,      // data-loader sample positions, index = global sample index
  kDropout = 3,   // reserved: dropout masks, index = global token index
  kSampling = 4,  // text generation, index = generated token position
  kTest = 99,     // tests
};

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 2> key, std::array<uint32_t, 4> counter);

class RngStream {
 public:
  RngStream(uint64_t seed, RngPurpose purpose, uint64_t index);

  uint32_t next_u32();
  uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits.
  float uniform();
  // Standard normal (Box-Muller on two uniforms).
  float normal();
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-32 * n).
  uint64_t below(uint64_t n);

 private:
  std::array<uint32_t, 2> key_;
  uint64_t index_;
  uint64_t draw_ = 0;
  std::array<uint32_t, 4> block_{};
  int used_ = 4;  // words of block_ already handed out
};

}  // namespace tessera

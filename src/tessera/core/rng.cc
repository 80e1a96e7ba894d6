#include "tessera/core/rng.h"

#include <cmath>

namespace tessera {

namespace {
constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1
}  // namespace

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 2> key, std::array<uint32_t, 4> ctr) {
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t{kPhiloxM0} * ctr[0];
    const uint64_t p1 = uint64_t{kPhiloxM1} * ctr[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    key[0] += kPhiloxW0;
    key[1] += kPhiloxW1;
  }
  return ctr;
}

RngStream::RngStream(uint64_t seed, RngPurpose purpose, uint64_t index)
    : key_{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32) ^ static_cast<uint32_t>(purpose)},
      index_(index) {}

uint32_t RngStream::next_u32() {
  if (used_ == 4) {
    block_ = philox4x32(key_, {static_cast<uint32_t>(index_), static_cast<uint32_t>(index_ >> 32),
                               static_cast<uint32_t>(draw_), static_cast<uint32_t>(draw_ >> 32)});
    ++draw_;
    used_ = 0;
  }
  return block_[used_++];
}

uint64_t RngStream::next_u64() {
  const uint64_t hi = next_u32();
  return (hi << 32) | next_u32();
}

float RngStream::uniform() { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }

float RngStream::normal() {
  // u1 in (0, 1] so that log(u1) is finite.
  const double u1 = (static_cast<double>(next_u32() >> 8) + 1.0) / 16777216.0;
  const double u2 = static_cast<double>(next_u32() >> 8) / 16777216.0;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

uint64_t RngStream::below(uint64_t n) {
  const unsigned __int128 product = static_cast<unsigned __int128>(next_u64()) * n;
  return static_cast<uint64_t>(product >> 64);
}

}  // namespace tessera

// TESSERA_FAULT's process faults (process_fault.h): parsing, refusal of malformed entries, and the bit flip
// firing once per run directory.
#include "tessera/resilience/process_fault.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace tessera {
namespace {

TEST(ProcessFault, ParsesKillHangAndBitflipAndSkipsOtherLayersKinds) {
  auto faults = parse_process_faults("kill:rank=1,step=9;ckpt_write:step=4;hang:rank=0,step=20;bitflip:step=13,rank=2;matmul:rank=0,step=3");
  ASSERT_TRUE(faults.ok()) << faults.status().message();
  ASSERT_EQ(faults->size(), 4u);
  EXPECT_EQ((*faults)[3].kind, ProcessFault::Kind::kMatmul);
  EXPECT_EQ((*faults)[0].kind, ProcessFault::Kind::kKill);
  EXPECT_EQ((*faults)[1].kind, ProcessFault::Kind::kHang);
  EXPECT_EQ((*faults)[2].kind, ProcessFault::Kind::kBitflip);
  EXPECT_EQ((*faults)[2].rank, 2);
  EXPECT_EQ((*faults)[2].step, 13);
}

TEST(ProcessFault, MalformedEntriesAreNamed) {
  for (const char* bad : {"bitflip:rank=1", "bitflip:rank=x,step=3", "kill:rank=1,step=-2", "hang:rank=1,when=3"}) {
    auto faults = parse_process_faults(bad);
    ASSERT_FALSE(faults.ok()) << bad;
    EXPECT_NE(faults.status().message().find(std::string("entry '") + bad + "'"), std::string::npos) << faults.status().message();
  }
}

TEST(ProcessFault, BitFlipFiresOnceOnItsRankAndStepAndFlipsExactlyTheBitAsked) {
  const std::string dir = (std::filesystem::temp_directory_path() / fmt::format("process_fault_test_{}", ::getpid())).string();
  std::filesystem::remove_all(dir);
  auto faults = parse_process_faults("bitflip:rank=1,step=5,bit=31,tensor=h.0.attn.qkv.weight");
  ASSERT_TRUE(faults.ok()) << faults.status().message();
  EXPECT_EQ((*faults)[0].bit, 31);
  EXPECT_EQ((*faults)[0].tensor, "h.0.attn.qkv.weight");
  EXPECT_EQ(parse_process_faults("bitflip:rank=1,step=5")->front().bit, 20);  // the default: a mantissa bit
  EXPECT_FALSE(take_due_fault(*faults, dir, ProcessFault::Kind::kBitflip, 0, 5).has_value());  // another rank
  EXPECT_FALSE(take_due_fault(*faults, dir, ProcessFault::Kind::kBitflip, 1, 4).has_value());  // another step
  ASSERT_TRUE(take_due_fault(*faults, dir, ProcessFault::Kind::kBitflip, 1, 5).has_value());
  // A restarted job passes step 5 again: the fault has fired in this run directory.
  EXPECT_FALSE(take_due_fault(*faults, dir, ProcessFault::Kind::kBitflip, 1, 5).has_value());
  std::filesystem::remove_all(dir);

  float value = 0.75f;
  flip_float_bit(&value, 31);
  EXPECT_EQ(value, -0.75f);  // the sign bit
  flip_float_bit(&value, 31);
  flip_float_bit(&value, 20);
  uint32_t a = 0, b = 0;
  const float original = 0.75f;
  std::memcpy(&a, &value, 4);
  std::memcpy(&b, &original, 4);
  EXPECT_EQ(a ^ b, 1u << 20);
  EXPECT_TRUE(std::isfinite(value));
}

TEST(ProcessFault, BitOutOfRangeIsRefused) {
  auto faults = parse_process_faults("bitflip:rank=0,step=1,bit=32");
  ASSERT_FALSE(faults.ok());
  EXPECT_NE(faults.status().message().find("bit at most 31"), std::string::npos) << faults.status().message();
}

}  // namespace
}  // namespace tessera

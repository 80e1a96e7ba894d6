// TESSERA_FAULT's process faults (process_fault.h): parsing, refusal of malformed entries, and the bit flip
// firing once per run directory.
#include "tessera/resilience/process_fault.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

namespace tessera {
namespace {

TEST(ProcessFault, ParsesKillHangAndBitflipAndSkipsOtherLayersKinds) {
  auto faults = parse_process_faults("kill:rank=1,step=9;ckpt_write:step=4;hang:rank=0,step=20;bitflip:step=13,rank=2");
  ASSERT_TRUE(faults.ok()) << faults.status().message();
  ASSERT_EQ(faults->size(), 3u);
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

TEST(ProcessFault, BitFlipChangesOneBitOfOneParameterOnceAndOnlyOnItsRankAndStep) {
  const std::string dir = (std::filesystem::temp_directory_path() / fmt::format("process_fault_test_{}", ::getpid())).string();
  std::filesystem::remove_all(dir);
  auto faults = parse_process_faults("bitflip:rank=1,step=5");
  ASSERT_TRUE(faults.ok());
  std::vector<float> params(11, 0.75f);
  const std::vector<float> original = params;
  EXPECT_FALSE(inject_bit_flip(*faults, dir, 0, 5, params.data(), 11));  // another rank
  EXPECT_FALSE(inject_bit_flip(*faults, dir, 1, 4, params.data(), 11));  // another step
  EXPECT_EQ(params, original);
  ASSERT_TRUE(inject_bit_flip(*faults, dir, 1, 5, params.data(), 11));
  int changed = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    uint32_t a = 0, b = 0;
    std::memcpy(&a, &params[i], 4);
    std::memcpy(&b, &original[i], 4);
    if (a != b) {
      ++changed;
      EXPECT_EQ(__builtin_popcount(a ^ b), 1);
      EXPECT_TRUE(std::isfinite(params[i]));
    }
  }
  EXPECT_EQ(changed, 1);
  // A restarted job passes step 5 again: the fault has fired in this run directory.
  const std::vector<float> flipped = params;
  EXPECT_FALSE(inject_bit_flip(*faults, dir, 1, 5, params.data(), 11));
  EXPECT_EQ(params, flipped);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera

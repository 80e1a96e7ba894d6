#include "tessera/resilience/replica_fingerprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "tessera/comm/local_communicator.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<float> params(size_t n) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = 0.001f * static_cast<float>(i) - 0.5f;
  return values;
}

TEST(ReplicaFingerprint, OrderSensitiveAndBitExact) {
  const std::vector<float> a = params(1000);
  const uint64_t base = fingerprint_floats(a.data(), a.size());
  // Streaming in pieces equals one shot.
  ReplicaFingerprint streamed;
  streamed.update(a.data(), 300);
  streamed.update(a.data() + 300, 700);
  EXPECT_EQ(streamed.digest(), base);
  // One flipped low mantissa bit changes it.
  std::vector<float> flipped = a;
  uint32_t bits;
  std::memcpy(&bits, &flipped[517], 4);
  bits ^= 1u;
  std::memcpy(&flipped[517], &bits, 4);
  EXPECT_NE(fingerprint_floats(flipped.data(), flipped.size()), base);
  // Swapping two values (same multiset) changes it.
  std::vector<float> swapped = a;
  std::swap(swapped[3], swapped[900]);
  EXPECT_NE(fingerprint_floats(swapped.data(), swapped.size()), base);
  // Feeding two tensors in the other order changes it.
  ReplicaFingerprint reordered;
  reordered.update(a.data() + 300, 700);
  reordered.update(a.data(), 300);
  EXPECT_NE(reordered.digest(), base);
}

TEST(ReplicaFingerprint, VoteNamesTheMinorityAndFlagsTies) {
  const auto clean = vote_on_fingerprints({7, 7, 7, 7});
  EXPECT_TRUE(clean.agree());
  EXPECT_FALSE(clean.ambiguous);
  EXPECT_EQ(clean.majority, 7u);
  EXPECT_THAT(clean.describe(), HasSubstr("all 4 replicas agree"));

  const auto one_bad = vote_on_fingerprints({7, 7, 9, 7});
  EXPECT_FALSE(one_bad.ambiguous);
  EXPECT_THAT(one_bad.divergent, ElementsAre(2));
  EXPECT_THAT(one_bad.describe(), HasSubstr("1 of 4 replicas diverge"));
  EXPECT_THAT(one_bad.describe(), HasSubstr("rank 2 (0x0000000000000009)"));

  const auto two = vote_on_fingerprints({7, 9});
  EXPECT_TRUE(two.ambiguous);
  EXPECT_THAT(two.divergent, ElementsAre(0, 1));
  EXPECT_THAT(two.describe(), HasSubstr("ambiguous"));
  EXPECT_TRUE(vote_on_fingerprints({7, 7, 9, 9}).ambiguous);        // 2-2: no majority
  EXPECT_THAT(vote_on_fingerprints({7, 7, 7, 9, 9}).divergent, ElementsAre(3, 4));
  EXPECT_TRUE(vote_on_fingerprints({5}).agree());
}

// On 4 thread ranks: identical replicas agree; one rank's flipped bit is named by every rank.
TEST(ReplicaFingerprint, FindDivergentReplicasOnThreadRanks) {
  for (int faulty : {-1, 0, 3}) {
    SCOPED_TRACE(faulty);
    std::mutex mutex;
    std::vector<DivergenceReport> reports(4);
    const Status status = run_on_thread_ranks(4, [&](Communicator& comm) {
      std::vector<float> replica = params(4096);
      if (comm.rank() == faulty) replica[100] = std::nextafter(replica[100], 1.0f);
      auto report = find_divergent_replicas(comm, fingerprint_floats(replica.data(), replica.size()));
      ASSERT_TRUE(report.ok()) << report.status().to_string();
      std::lock_guard lock(mutex);
      reports[static_cast<size_t>(comm.rank())] = *report;
    });
    ASSERT_TRUE(status.ok()) << status.to_string();
    for (const DivergenceReport& report : reports) {
      EXPECT_FALSE(report.ambiguous);
      if (faulty < 0) {
        EXPECT_TRUE(report.agree());
      } else {
        EXPECT_THAT(report.divergent, ElementsAre(faulty));
      }
    }
  }
  // Two replicas that disagree: ambiguous on both.
  std::vector<int> ambiguous(2, 0);
  ASSERT_TRUE(run_on_thread_ranks(2, [&](Communicator& comm) {
                auto report = find_divergent_replicas(comm, comm.rank() == 1 ? 2 : 1);
                ASSERT_TRUE(report.ok());
                ambiguous[static_cast<size_t>(comm.rank())] = report->ambiguous ? 1 : 0;
              }).ok());
  EXPECT_THAT(ambiguous, ElementsAre(1, 1));
}

}  // namespace
}  // namespace tessera

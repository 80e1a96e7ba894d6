// Blaming the right rank when heartbeats stop (hang_blame.h): the culprit is the rank its peers wait for,
// whichever beat passed the timeout first; and the heartbeat file carries the waits to the supervisor.
#include "tessera/resilience/hang_blame.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

namespace tessera {
namespace {

Heartbeat beat(int rank, double time, std::vector<HeartbeatWait> waiting = {}) {
  return {.rank = rank, .pid = 100 + rank, .host = "h", .step = 20, .time_unix_s = time, .final = false,
          .waiting = std::move(waiting)};
}
HeartbeatWait waits_for(std::vector<int> ranks, uint64_t seq = 7) {
  return {.axis = "dp", .op = "all_reduce", .seq = seq, .for_ranks = std::move(ranks), .since_unix_s = 0};
}

TEST(HangBlame, NothingWhileEveryBeatIsFresh) {
  EXPECT_FALSE(blame_hung_rank({beat(0, 98.0), beat(1, 99.0)}, 100.0, 3.0).has_value());
  EXPECT_FALSE(blame_hung_rank({}, 100.0, 3.0).has_value());
}

TEST(HangBlame, TheRankOthersWaitForIsBlamedEvenWhenAVictimBeatLonger) {
  // Rank 1 finished step 20 first and now waits for rank 0, which stopped right after its own beat.
  const std::vector<Heartbeat> beats = {beat(0, 90.5), beat(1, 90.0, {waits_for({0})})};
  const auto verdict = blame_hung_rank(beats, 100.0, 3.0);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(beats[verdict->index].rank, 0);
  EXPECT_TRUE(verdict->why.empty()) << verdict->why;  // rank 0 itself is silent without waiting
}

TEST(HangBlame, WhenEveryRankWaitsTheMostNamedRankIsBlamedWithWhoWaits) {
  // Rank 2 is stuck on a send nobody receives (it waits too), ranks 0, 1 and 3 wait for it.
  const std::vector<Heartbeat> beats = {beat(0, 90.0, {waits_for({2})}), beat(1, 91.0, {waits_for({2, 3})}),
                                        beat(2, 92.0, {waits_for({1}, 3)}), beat(3, 93.0, {waits_for({2})})};
  const auto verdict = blame_hung_rank(beats, 100.0, 3.0);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(beats[verdict->index].rank, 2);
  EXPECT_NE(verdict->why.find("rank 0 waits for it in all_reduce #7 on axis 'dp'"), std::string::npos) << verdict->why;
  EXPECT_NE(verdict->why.find("rank 3 waits for it"), std::string::npos) << verdict->why;
}

TEST(HangBlame, WaitsThatNameNobodyFallBackToTheOldestBeat) {
  const std::vector<Heartbeat> beats = {beat(0, 92.0, {waits_for({})}), beat(1, 91.0, {waits_for({})})};
  const auto verdict = blame_hung_rank(beats, 100.0, 3.0);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(beats[verdict->index].rank, 1);
  EXPECT_NE(verdict->why.find("naming none"), std::string::npos) << verdict->why;
}

TEST(HangBlame, FinalBeatsAreNeverHung) {
  std::vector<Heartbeat> beats = {beat(0, 10.0), beat(1, 99.0)};
  beats[0].final = true;
  EXPECT_FALSE(blame_hung_rank(beats, 100.0, 3.0).has_value());
}

TEST(HeartbeatWriter, StallsAreWrittenWithTheStepAndTimeOfTheLastBeatAndClearedWhenTheyEnd) {
  const std::string dir = (std::filesystem::temp_directory_path() / fmt::format("hang_blame_test_{}", ::getpid())).string();
  std::filesystem::remove_all(dir);
  HeartbeatWriter writer(dir, 1);
  const CommStall stall{.axis = "dp", .op = CommOpKind::kAllReduce, .seq = 42, .missing = {0}, .ended = false};
  ASSERT_TRUE(writer.note_stall(stall, {0}).ok());
  EXPECT_TRUE(read_heartbeats(dir).empty()) << "a stall before the first step's beat must not look like a step";

  ASSERT_TRUE(writer.beat(20).ok());
  const double step_time = read_heartbeats(dir).at(0).time_unix_s;
  ASSERT_TRUE(writer.note_stall(stall, {0}).ok());
  auto beats = read_heartbeats(dir);
  ASSERT_EQ(beats.size(), 1u);
  EXPECT_EQ(beats[0].step, 20);
  EXPECT_EQ(beats[0].time_unix_s, step_time);  // a stall is not progress
  ASSERT_EQ(beats[0].waiting.size(), 1u);
  EXPECT_EQ(beats[0].waiting[0].axis, "dp");
  EXPECT_EQ(beats[0].waiting[0].op, "all_reduce");
  EXPECT_EQ(beats[0].waiting[0].seq, 42u);
  EXPECT_EQ(beats[0].waiting[0].for_ranks, std::vector<int>{0});

  CommStall ended = stall;
  ended.ended = true;
  ASSERT_TRUE(writer.note_stall(ended, {}).ok());
  EXPECT_TRUE(read_heartbeats(dir).at(0).waiting.empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera

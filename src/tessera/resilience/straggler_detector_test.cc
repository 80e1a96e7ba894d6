#include "tessera/resilience/straggler_detector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>

#include "tessera/comm/local_communicator.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kSections = {"data", "forward", "backward", "comm"};

// 4 ranks at ~0.4 s a step (small per-rank jitter); `slow_rank` spends `factor`× on forward+backward.
std::vector<SectionTimes> timings(int64_t step, int slow_rank, double factor) {
  std::vector<SectionTimes> per_rank;
  for (int r = 0; r < 4; ++r) {
    const double jitter = 1.0 + 0.02 * static_cast<double>((step + r) % 3);
    const double compute = r == slow_rank ? factor : 1.0;
    per_rank.push_back({0.01 * jitter, 0.12 * jitter * compute, 0.24 * jitter * compute, 0.03 * jitter});
  }
  return per_rank;
}

TEST(StragglerDetector, ReportsAPersistentStragglerOnceWithItsSections) {
  StragglerDetector detector(kSections, 4, {.slow_factor = 1.5, .consecutive_steps = 5});
  std::vector<StragglerReport> all;
  for (int64_t step = 1; step <= 30; ++step) {
    // Rank 2 is 2× slower from step 10 on; rank 1 has a one-off 3× blip at step 5.
    std::vector<SectionTimes> t = timings(step, step >= 10 ? 2 : -1, 2.0);
    if (step == 5) t[1] = {0.03, 0.36, 0.72, 0.09};
    auto reports = detector.observe(step, t);
    ASSERT_TRUE(reports.ok()) << reports.status().to_string();
    all.insert(all.end(), reports->begin(), reports->end());
  }
  ASSERT_EQ(all.size(), 1u);  // the blip is not persistent; the straggler is reported once
  const StragglerReport& r = all[0];
  EXPECT_EQ(r.rank, 2);
  EXPECT_EQ(r.step, 14);  // slow at 10, 11, 12, 13, 14
  EXPECT_EQ(r.consecutive_steps, 5);
  EXPECT_NEAR(r.seconds / r.median_seconds, 1.95, 0.1);
  ASSERT_EQ(r.slow_sections.size(), 2u);
  EXPECT_EQ(r.slow_sections[0].name, "backward");  // the larger excess first
  EXPECT_EQ(r.slow_sections[1].name, "forward");
  EXPECT_THAT(r.describe(), HasSubstr("rank 2 is 1.86x slower than the median (0.775 s vs 0.416 s)"));
  EXPECT_THAT(r.describe(), HasSubstr("for 5 steps up to step 14; slow sections: backward"));
}

TEST(StragglerDetector, ANewEpisodeIsReportedAgainAndMildSlownessIsNot) {
  StragglerDetector detector(kSections, 4, {.slow_factor = 1.5, .consecutive_steps = 3});
  int reports = 0;
  for (int64_t step = 1; step <= 20; ++step) {
    // Rank 0 slow in steps 1-5 and 11-15, otherwise 1.3× (under the factor).
    const bool slow = (step <= 5) || (step >= 11 && step <= 15);
    auto r = detector.observe(step, timings(step, 0, slow ? 2.0 : 1.3));
    ASSERT_TRUE(r.ok());
    for (const StragglerReport& report : *r) {
      EXPECT_EQ(report.rank, 0);
      EXPECT_TRUE(report.step == 3 || report.step == 13) << report.step;
      ++reports;
    }
  }
  EXPECT_EQ(reports, 2);
}

TEST(StragglerDetector, RejectsMisshapenInputAndBadOptions) {
  StragglerDetector detector(kSections, 4);
  auto few = detector.observe(1, std::vector<SectionTimes>(3, SectionTimes(4, 0.1)));
  ASSERT_FALSE(few.ok());
  EXPECT_THAT(few.status().message(), HasSubstr("expected timings of 4 ranks, found 3"));
  auto narrow = detector.observe(1, {{0.1}, {0.1, 0.1, 0.1, 0.1}, {0.1, 0.1, 0.1, 0.1}, {0.1, 0.1, 0.1, 0.1}});
  ASSERT_FALSE(narrow.ok());
  EXPECT_THAT(narrow.status().message(), HasSubstr("rank 0 reports 1 sections, expected 4 (data, forward"));
  EXPECT_THAT(check_straggler_options({.slow_factor = 1.0}).message(), HasSubstr("slow_factor must be a number > 1"));
  EXPECT_THAT(check_straggler_options({.consecutive_steps = 0}).message(), HasSubstr("consecutive_steps"));
}

TEST(StragglerDetector, GathersTimingsOnThreadRanks) {
  std::mutex mutex;
  std::vector<std::vector<SectionTimes>> seen(3);
  ASSERT_TRUE(run_on_thread_ranks(3, [&](Communicator& comm) {
                const SectionTimes mine = {1.0 * comm.rank(), 10.0 + comm.rank()};
                auto all = gather_step_timings(comm, mine);
                ASSERT_TRUE(all.ok());
                std::lock_guard lock(mutex);
                seen[static_cast<size_t>(comm.rank())] = *all;
              }).ok());
  const std::vector<SectionTimes> expected = {{0.0, 10.0}, {1.0, 11.0}, {2.0, 12.0}};
  for (const auto& all : seen) EXPECT_EQ(all, expected);
}

}  // namespace
}  // namespace tessera

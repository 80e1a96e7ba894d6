#include "tessera/plan/pipeline_sim.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tessera::plan {
namespace {

double bubble(PipelineSchedule s, int64_t pp, int64_t vpp, int64_t m) {
  auto t = simulate_pipeline({s, pp, vpp, m, 1.0, 2.0, 0.0});
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t->bubble_fraction;
}

TEST(PipelineSim, BubbleIsPMinus1OverMPlusPMinus1) {
  for (auto s : {PipelineSchedule::kGPipe, PipelineSchedule::kOneFOneB}) {
    for (int64_t pp : {1, 2, 4, 8}) {
      for (int64_t m : {1, 4, 8, 32}) {
        const double expected = static_cast<double>(pp - 1) / static_cast<double>(m + pp - 1);
        EXPECT_NEAR(bubble(s, pp, 1, m), expected, 1e-9) << pipeline_schedule_name(s) << " pp=" << pp << " m=" << m;
      }
    }
  }
}

TEST(PipelineSim, InterleavingShrinksTheBubble) {
  const double plain = bubble(PipelineSchedule::kOneFOneB, 4, 1, 8);
  const double v2 = bubble(PipelineSchedule::kInterleaved, 4, 2, 8);
  const double v4 = bubble(PipelineSchedule::kInterleaved, 4, 4, 8);
  EXPECT_LT(v2, plain);
  EXPECT_LT(v4, v2);
  // Narayanan et al.: (p−1)/(v·m) of the ideal time → (p−1)/(v·m + p − 1) of the makespan.
  EXPECT_NEAR(v2, 3.0 / (2 * 8 + 3), 0.02);
}

TEST(PipelineSim, ChromeTraceIsValidJsonWithOneEventPerOp) {
  auto t = simulate_pipeline({PipelineSchedule::kInterleaved, 4, 2, 8, 1.0, 2.0, 0.01});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->ops.size(), 2u * 8 * 4 * 2);
  const auto json = nlohmann::json::parse(pipeline_chrome_trace(*t));
  ASSERT_TRUE(json.contains("traceEvents"));
  EXPECT_EQ(json["traceEvents"].size(), 2u * 8 * 4 * 2);
  EXPECT_EQ(json["traceEvents"][0]["ph"], "X");
}

TEST(PipelineSim, RejectsImpossibleInput) {
  EXPECT_FALSE(simulate_pipeline({PipelineSchedule::kOneFOneB, 0, 1, 4, 1, 2, 0}).ok());
  auto bad = simulate_pipeline({PipelineSchedule::kInterleaved, 4, 2, 6, 1, 2, 0});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("multiple of pp"), std::string::npos);
}

}  // namespace
}  // namespace tessera::plan

// The plan page: its numbers and bars from a plan's JSON, search output drawn plan by plan, and a missing
// field named.
#include "tessera/report/plan_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tessera {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

nlohmann::json plan() {
  return nlohmann::json::parse(R"({"model": "gpt3-175b", "cluster": "c<1>", "accelerator": "h100", "gpus": 1024,
    "step_time_s": 0.8354, "step_time_p50_s": 0.86, "step_time_p90_s": 0.87, "tokens_per_sec": 39222, "mfu_percent": 4.2,
    "layout": {"tp": 8, "pp": 8, "dp": 16, "cp": 1, "ep": 1, "zero_stage": 0, "schedule": "1f1b", "recompute": "none",
               "micro_batch": 1, "micro_batches": 1},
    "memory_gib": {"weights": 5.2, "gradients": 10.4, "optimizer": 31.3, "activations": 1.1, "logits": 0.12,
                   "buffers": 2.0, "total": 50.1, "capacity": 80.0, "fits": true},
    "breakdown_s": {"compute": 0.063, "tp_comm": 0.0083, "pp_comm": 0.0003, "cp_comm": 0.0, "dp_comm_exposed": 0.224,
                    "bubble": 0.503, "optimizer": 0.036}})");
}

TEST(PlanPage, DrawsMemoryAndStepBreakdown) {
  auto page = render_plan_page(plan(), "plan.json");
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_THAT(*page, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(*page, HasSubstr("gpt3-175b on c&lt;1&gt; (h100)"));
  EXPECT_THAT(*page, HasSubstr("tp 8 · pp 8 · dp 16"));
  EXPECT_THAT(*page, HasSubstr("50.1 of 80 GiB (fits)"));
  EXPECT_THAT(*page, HasSubstr("capacity 80 GiB"));
  EXPECT_THAT(*page, HasSubstr("optimizer 31.3 GiB"));       // a legend entry of the stacked bar
  EXPECT_THAT(*page, HasSubstr(">pipeline bubble</text>"));  // a step component with time
  EXPECT_THAT(*page, Not(HasSubstr(">context-parallel comm</text>")));  // 0 s: not drawn
  for (const char* external : {"<script", "src=", "href=", "url(", "@import"}) {
    EXPECT_THAT(*page, Not(HasSubstr(external))) << external;
  }
}

TEST(PlanPage, SearchOutputAndMissingFields) {
  nlohmann::json search = {{"top", {plan(), plan()}}};
  auto page = render_plan_page(search, "search.json");
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_THAT(*page, HasSubstr("Plan 2 of 2"));
  nlohmann::json broken = plan();
  broken["memory_gib"].erase("optimizer");
  auto refused = render_plan_page(broken, "plan.json");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("plan.json: memory_gib.optimizer: expected a number, found nothing"));
  search["top"][1]["step_time_s"] = "fast";
  refused = render_plan_page(search, "search.json");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("search.json (top[1]): step_time_s: expected a number, found string"));
  EXPECT_FALSE(render_plan_page(nlohmann::json::array(), "x.json").ok());
}

}  // namespace
}  // namespace tessera

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

TEST(PlanPage, DrawsTheStepTimeline) {
  nlohmann::json p = plan();
  // pp 2, 1F1B, 2 micro-batches of F 1 s and B 2 s: makespan 9 s; then dp 0.224 s and optimizer 0.036 s.
  p["step_time_s"] = 9.26;
  p["timeline"] = nlohmann::json::parse(R"({"makespan_s": 9, "bubble_fraction": 0.333, "ranks": 2, "ops": [
    [0, "F", 0, 0, 1], [0, "F", 1, 1, 2], [1, "F", 0, 1, 2], [1, "B", 0, 2, 4], [1, "F", 1, 4, 5],
    [0, "B", 0, 4, 6], [1, "B", 1, 5, 7], [0, "B", 1, 7, 9]]})");
  auto page = render_plan_page(p, "plan.json");
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_THAT(*page, HasSubstr("Step timeline (simulated pipeline schedule, bubble 33.3%)"));
  EXPECT_THAT(*page, HasSubstr(">stage 1</text>"));
  // x: 860 px for 9.26 s from x = 80; stage 1's B0 from 2 s to 4 s, the row of stage 1 at y = 34 + 24.
  EXPECT_THAT(*page, HasSubstr("<rect x=\"265.75\" y=\"58\" width=\"185.75\" height=\"20\" fill=\"#ff7f0e\""));
  EXPECT_THAT(*page, HasSubstr("<title>stage 1 B0 2–4 s</title>"));
  EXPECT_THAT(*page, HasSubstr("fill=\"#d62728\"/>"));  // the exposed dp reduction after the pipeline
  EXPECT_THAT(*page, HasSubstr(">seconds into the step</text>"));
  EXPECT_THAT(*page, HasSubstr(">backward</text>"));
  EXPECT_THAT(*page, Not(HasSubstr(">backward (weights)</text>")));  // no W op: not in the legend

  p["timeline"]["ops"][3][1] = "X";
  EXPECT_THAT(render_plan_page(p, "plan.json").status().message(),
              HasSubstr("plan.json: timeline.ops[3] kind (F, B, I or W): expected it, found \"X\""));
  p["timeline"]["ops"][3] = {7, "B", 0, 2, 4};
  EXPECT_THAT(render_plan_page(p, "plan.json").status().message(), HasSubstr("timeline.ops[3] rank (0..1)"));
  p["timeline"]["ops"][3] = {1, "B", 0, 2, 40};
  EXPECT_THAT(render_plan_page(p, "plan.json").status().message(), HasSubstr("timeline.ops[3] times"));
  p["timeline"].erase("ops");
  EXPECT_THAT(render_plan_page(p, "plan.json").status().message(), HasSubstr("timeline.ops (an array): expected"));
  // A plan without a timeline says where one comes from.
  EXPECT_THAT(*render_plan_page(plan(), "plan.json"), HasSubstr("No step timeline"));
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

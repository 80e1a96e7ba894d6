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
  EXPECT_NEAR(v2, 3.0 / (2 * 8 + 3), 1e-9);
}

TEST(PipelineSim, InterleavedBubbleIsPMinus1OverVMPlusPMinus1) {
  // Unit-time F (forward_s = vpp, so each chunk's forward takes 1) and B = 2F, no latency.
  for (int64_t pp : {2, 4}) {
    for (int64_t v : {2, 3, 4}) {
      for (int64_t m : {pp, 2 * pp, 4 * pp}) {
        const double expected = static_cast<double>(pp - 1) / static_cast<double>(v * m + pp - 1);
        EXPECT_NEAR(bubble(PipelineSchedule::kInterleaved, pp, v, m), expected, 1e-9)
            << "pp=" << pp << " v=" << v << " m=" << m;
      }
    }
  }
}

TEST(PipelineSim, ZeroBubbleH1FillsTheDrainWithWeightGradients) {
  // F = I = W = 1 (B = 2 split in halves): ZB-H1's bubble is (p−1)/(3m+p−1), a third of 1F1B's idle time.
  for (int64_t pp : {2, 4, 8}) {
    for (int64_t m : {pp, 2 * pp, 3 * pp + 1}) {
      auto program = make_pipeline_schedule({.kind = PipelineScheduleKind::kZeroBubbleH1, .pp = pp, .micro_batches = m});
      ASSERT_TRUE(program.ok()) << program.status().to_string();
      auto t = simulate_pipeline(*program, PipelineTimes{.forward_s = 1, .backward_s = 2});
      ASSERT_TRUE(t.ok()) << t.status().to_string();
      const double expected = static_cast<double>(pp - 1) / static_cast<double>(3 * m + pp - 1);
      EXPECT_NEAR(t->bubble_fraction, expected, 1e-9) << "pp=" << pp << " m=" << m;
      if (pp > 1) EXPECT_LT(t->bubble_fraction, bubble(PipelineSchedule::kOneFOneB, pp, 1, m));
      EXPECT_EQ(t->ops.size(), static_cast<size_t>(3 * m * pp));
    }
  }
}

// Uneven stages (each rank its own times): GPipe's makespan is Σ_r (f_r + b_r) + (m−1)·max_r (f_r + b_r), the
// slowest stage pacing the steady state; the idle share counts every rank's wait.
TEST(PipelineSim, UnevenStagesArePacedByTheSlowest) {
  auto program = make_pipeline_schedule({.kind = PipelineScheduleKind::kGPipe, .pp = 2, .vpp = 1, .micro_batches = 4});
  ASSERT_TRUE(program.ok());
  PipelineTimes times{.rank_forward_s = {1, 2}, .rank_backward_s = {2, 4}};
  auto t = simulate_pipeline(*program, times);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_DOUBLE_EQ(t->makespan_s, (1 + 2 + 2 + 4) + 3 * (2 + 4));
  EXPECT_DOUBLE_EQ(t->bubble_fraction, 1 - 4.0 * (3 + 6) / (2 * 27.0));
  times.rank_forward_s = {1};
  EXPECT_FALSE(simulate_pipeline(*program, times).ok());  // one time per rank
}

// Interleaved with uneven virtual stages (global stage s = chunk·pp + rank, each its own time): equal stage times
// reproduce the per-rank simulation; a heavy last stage (Tessera's LM head on rank pp−1's last chunk) is paid on that
// chunk only, so rank 1 is busy m·(Σ its chunks' F + B), and rank 0 works before and after it only for its first
// forward and last backward.
TEST(PipelineSim, InterleavedVirtualStagesHaveTheirOwnTimes) {
  const int64_t m = 4;
  auto program = make_pipeline_schedule({.kind = PipelineScheduleKind::kInterleaved, .pp = 2, .vpp = 3, .micro_batches = m});
  ASSERT_TRUE(program.ok()) << program.status().to_string();
  auto by_rank = simulate_pipeline(*program, PipelineTimes{.rank_forward_s = {3, 3}, .rank_backward_s = {6, 6}});
  PipelineTimes stages{.stage_forward_s = {1, 1, 1, 1, 1, 1}, .stage_backward_s = {2, 2, 2, 2, 2, 2}};
  auto by_stage = simulate_pipeline(*program, stages);
  ASSERT_TRUE(by_rank.ok() && by_stage.ok()) << by_stage.status().to_string();
  EXPECT_DOUBLE_EQ(by_stage->makespan_s, by_rank->makespan_s);
  EXPECT_DOUBLE_EQ(by_stage->bubble_fraction, by_rank->bubble_fraction);
  stages.stage_forward_s[5] = 9;  // the head's forward and backward, fused into the last stage's forward
  auto head = simulate_pipeline(*program, stages);
  ASSERT_TRUE(head.ok()) << head.status().to_string();
  const double rank1_busy = m * (1 + 1 + 9 + 3 * 2.0), rank0_busy = m * 3 * (1 + 2.0);
  // Rank 1 paces the step without a gap: from stage 0's first forward to its last backward (the head is paid once
  // per micro-batch; once per chunk would add another 2·m·8).
  EXPECT_DOUBLE_EQ(head->makespan_s, 1 + rank1_busy + 2);
  EXPECT_NEAR(head->bubble_fraction, 1 - (rank0_busy + rank1_busy) / (2 * head->makespan_s), 1e-12);
  for (const auto& op : head->ops) {
    if (op.chunk == 5 && op.kind == PipelineActionKind::kForward) EXPECT_DOUBLE_EQ(op.end_s - op.start_s, 9);
  }
  stages.stage_forward_s.pop_back();
  auto bad = simulate_pipeline(*program, stages);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("pp·vpp = 6"), std::string::npos) << bad.status().message();
}

TEST(PipelineSim, P2pLatencyAddsToTheFillAndDrain) {
  // 1F1B pp 2, m 1, f 1, b 2, p2p 0.5: F on rank 0 [0,1], F on rank 1 [1.5,2.5], B on 1 [2.5,4.5],
  // B on rank 0 [5,7].
  auto t = simulate_pipeline({PipelineSchedule::kOneFOneB, 2, 1, 1, 1.0, 2.0, 0.5});
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t->makespan_s, 7.0);
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

TEST(PipelineSim, TimelineJsonForTheReportPage) {
  // 1F1B, pp 2, 2 micro-batches, F 1 s, B 2 s: makespan (m + pp − 1)·(f + b) = 9 s; rank 0 starts F0 at 0.
  auto t = simulate_pipeline({PipelineSchedule::kOneFOneB, 2, 1, 2, 1.0, 2.0, 0.0});
  ASSERT_TRUE(t.ok());
  const auto json = nlohmann::json::parse(pipeline_timeline_json(*t, 2));
  EXPECT_DOUBLE_EQ(json["makespan_s"].get<double>(), 9.0);
  EXPECT_EQ(json["ranks"], 2);
  ASSERT_EQ(json["ops"].size(), 8u);
  EXPECT_EQ(json["ops"][0], nlohmann::json::parse(R"([0, "F", 0, 0.0, 1.0])"));
  int backwards = 0;
  for (const auto& op : json["ops"]) backwards += op[1] == "B" ? 1 : 0;
  EXPECT_EQ(backwards, 4);
}

TEST(PipelineSim, RejectsImpossibleInput) {
  EXPECT_FALSE(simulate_pipeline({PipelineSchedule::kOneFOneB, 0, 1, 4, 1, 2, 0}).ok());
  auto bad = simulate_pipeline({PipelineSchedule::kInterleaved, 4, 2, 6, 1, 2, 0});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("multiple of pp"), std::string::npos);
}

}  // namespace
}  // namespace tessera::plan

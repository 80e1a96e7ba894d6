#include "tessera/spec/pipeline_schedule.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace tessera {
namespace {

using Kind = PipelineActionKind;

PipelineProgram make(PipelineScheduleKind kind, int64_t pp, int64_t m, int64_t vpp = 1) {
  auto p = make_pipeline_schedule({.kind = kind, .pp = pp, .vpp = vpp, .micro_batches = m});
  EXPECT_TRUE(p.ok()) << p.status().to_string();
  return p.ok() ? *p : PipelineProgram{};
}

TEST(PipelineSchedule, EveryGeneratorValidates) {
  for (int64_t pp : {1, 2, 3, 4}) {
    for (int64_t m : {1, 2, 4, 5, 8}) {
      for (auto kind : {PipelineScheduleKind::kGPipe, PipelineScheduleKind::kOneFOneB}) {
        const PipelineProgram p = make(kind, pp, m);
        EXPECT_TRUE(validate_pipeline_schedule(p).ok())
            << validate_pipeline_schedule(p).to_string() << " " << pipeline_schedule_kind_name(kind) << " pp=" << pp;
      }
      if (m >= pp) {
        const PipelineProgram zb = make(PipelineScheduleKind::kZeroBubbleH1, pp, m);
        EXPECT_TRUE(validate_pipeline_schedule(zb).ok()) << validate_pipeline_schedule(zb).to_string();
      }
      for (int64_t vpp : {2, 3}) {
        if (m % pp != 0) continue;
        const PipelineProgram p = make(PipelineScheduleKind::kInterleaved, pp, m, vpp);
        EXPECT_TRUE(validate_pipeline_schedule(p).ok())
            << validate_pipeline_schedule(p).to_string() << " pp=" << pp << " m=" << m << " vpp=" << vpp;
      }
    }
  }
}

TEST(PipelineSchedule, OneFOneBHoldsPpMinusRankMicroBatches) {
  const PipelineProgram p = make(PipelineScheduleKind::kOneFOneB, 4, 8);
  const PipelineProgram gpipe = make(PipelineScheduleKind::kGPipe, 4, 8);
  const PipelineProgram zb = make(PipelineScheduleKind::kZeroBubbleH1, 4, 8);
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_EQ(peak_in_flight(p, r), 4 - r) << "rank " << r;
    EXPECT_EQ(peak_in_flight(gpipe, r), 8) << "rank " << r;
    EXPECT_EQ(peak_in_flight(zb, r), 4 - r) << "rank " << r;
  }
  // Interleaved (v = 2): warm-up (p−r−1)·2 + (v−1)·p forwards, then one more before the first backward;
  // counted in (micro-batch, chunk) pairs.
  const PipelineProgram interleaved = make(PipelineScheduleKind::kInterleaved, 4, 8, 2);
  for (int64_t r = 0; r < 4; ++r) EXPECT_EQ(peak_in_flight(interleaved, r), (4 - r - 1) * 2 + 4 + 1) << "rank " << r;
}

TEST(PipelineSchedule, MessagesSitNextToTheirCompute) {
  // pp 2, m 2, 1F1B: rank 0 (first stage) warms up with one forward and sends no gradients; rank 1 (last
  // stage) alternates from the start, receiving each activation right before its forward.
  const PipelineProgram p = make(PipelineScheduleKind::kOneFOneB, 2, 2);
  EXPECT_EQ(pipeline_program_text(p, 0), "F0.0 send_act0.0 F1.0 send_act1.0 recv_grad0.0 B0.0 recv_grad1.0 B1.0");
  EXPECT_EQ(pipeline_program_text(p, 1), "recv_act0.0 F0.0 B0.0 send_grad0.0 recv_act1.0 F1.0 B1.0 send_grad1.0");
  // ZB-H1 splits every backward into I then W, exactly once each.
  const PipelineProgram zb = make(PipelineScheduleKind::kZeroBubbleH1, 2, 3);
  int inputs = 0, weights = 0, whole = 0;
  for (const auto& rank : zb.ranks) {
    for (const auto& a : rank) {
      inputs += a.kind == Kind::kBackwardInput;
      weights += a.kind == Kind::kBackwardWeight;
      whole += a.kind == Kind::kBackward;
    }
  }
  EXPECT_EQ(inputs, 6);
  EXPECT_EQ(weights, 6);
  EXPECT_EQ(whole, 0);
}

TEST(PipelineSchedule, ValidatorCatchesBrokenPrograms) {
  // A backward before its forward.
  PipelineProgram p = make(PipelineScheduleKind::kGPipe, 1, 2);
  std::swap(p.ranks[0][0], p.ranks[0][2]);  // B0 first
  Status s = validate_pipeline_schedule(p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("backward before its forward"), std::string::npos) << s.message();

  // A micro-batch that never runs backward.
  p = make(PipelineScheduleKind::kGPipe, 1, 2);
  p.ranks[0].pop_back();
  s = validate_pipeline_schedule(p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("never completes micro-batch 1"), std::string::npos) << s.message();

  // Receives in the other order than the peer sends: rank 1 expects micro-batch 1 first.
  p = make(PipelineScheduleKind::kGPipe, 2, 2);
  auto& r1 = p.ranks[1];  // the last stage: recv_act0 F0 recv_act1 F1 B0 ...
  ASSERT_EQ(pipeline_program_text(p, 1).substr(0, 34), "recv_act0.0 F0.0 recv_act1.0 F1.0 ");
  std::swap(r1[0], r1[2]);
  std::swap(r1[1], r1[3]);
  s = validate_pipeline_schedule(p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("out of order"), std::string::npos) << s.message();

  // Both ranks wait for each other: rank 0 receives the gradient before it sends the activation.
  p = make(PipelineScheduleKind::kOneFOneB, 2, 1);
  ASSERT_EQ(pipeline_program_text(p, 0), "F0.0 send_act0.0 recv_grad0.0 B0.0");
  std::swap(p.ranks[0][1], p.ranks[0][2]);
  s = validate_pipeline_schedule(p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("deadlock"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("rank 0 at #1 recv_grad0.0"), std::string::npos) << s.message();
}

TEST(PipelineSchedule, CapacityOneChannelsDeadlockWhenSendsRunAhead) {
  // Interleaved pp 2, vpp 2, m 4 passes. Move all of rank 0's chunk-0 forwards (and their sends) to the
  // front: still a correct order on its own, and fine with unbounded buffers, but rank 0 now tries to send 4
  // activations before it receives rank 1's first one, while rank 1 blocks sending its second activation
  // back (rank 0 has not received the first): both sit in a blocked send.
  PipelineProgram p = make(PipelineScheduleKind::kInterleaved, 2, 4, 2);
  ASSERT_TRUE(validate_pipeline_schedule(p).ok());
  std::stable_partition(p.ranks[0].begin(), p.ranks[0].end(), [](const PipelineAction& a) {
    return a.chunk == 0 && (a.kind == Kind::kForward || a.kind == Kind::kSendActivation);
  });
  const Status s = validate_pipeline_schedule(p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("deadlock with blocking sends of capacity 1: rank 0 at #7 send_act3.0, rank 1 at #5 send_act1.0"),
            std::string::npos)
      << s.message();
}

TEST(PipelineSchedule, BadInputNamesTheKeyTheValuesAndAHint) {
  auto p = make_pipeline_schedule({.kind = PipelineScheduleKind::kInterleaved, .pp = 4, .vpp = 2, .micro_batches = 6});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "pipeline interleaved: needs micro-batches (6) to be a multiple of pp (4); hint: micro-batches 8");
  p = make_pipeline_schedule({.kind = PipelineScheduleKind::kZeroBubbleH1, .pp = 4, .micro_batches = 2});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("micro-batches (2) >= pp (4)"), std::string::npos);
  p = make_pipeline_schedule(
      {.kind = PipelineScheduleKind::kInterleaved, .pp = 2, .vpp = 3, .micro_batches = 4, .n_layer = 8});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("n_layer (8) must split evenly into pp*vpp = 2*3 = 6"), std::string::npos);
  p = make_pipeline_schedule({.kind = PipelineScheduleKind::kOneFOneB, .pp = 2, .vpp = 2, .micro_batches = 4});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("vpp (2) > 1 needs the interleaved schedule"), std::string::npos);
  p = make_pipeline_schedule({.kind = PipelineScheduleKind::kGPipe, .pp = 0, .micro_batches = 4});
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(pipeline_schedule_kind(PipelineSchedule::kInterleaved), PipelineScheduleKind::kInterleaved);
  EXPECT_EQ(pipeline_schedule_kind(PipelineSchedule::kGPipe), PipelineScheduleKind::kGPipe);
  PipelineScheduleKind kind;
  EXPECT_TRUE(parse_pipeline_schedule_kind("zb-h1", &kind));
  EXPECT_EQ(kind, PipelineScheduleKind::kZeroBubbleH1);
  EXPECT_FALSE(parse_pipeline_schedule_kind("zb", &kind));
}

}  // namespace
}  // namespace tessera

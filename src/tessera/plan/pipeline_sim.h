// Event-driven simulation of one step of a pipeline schedule (GPipe, 1F1B, interleaved 1F1B, ZB-H1).
//
// The schedule is the data of spec/pipeline_schedule.h — the same per-rank action lists the runtime runs —
// so the planner cannot simulate an order the runtime does not execute. Each rank runs its actions in
// order, one at a time: a compute action takes its time (forward_s/vpp, backward_s/vpp; ZB splits a
// backward into I = (1−w)·B and W = w·B), a send records when its data leaves (asynchronous), a blocking
// recv waits until the matching send + p2p latency. With uniform op times the makespan is
// (m + (pp−1)/vpp)·(f + b) and the bubble fraction (pp−1)/(m·vpp + pp − 1) — (pp−1)/(m+pp−1) for GPipe and
// 1F1B; ZB-H1 with F = I = W: (pp−1)/(3m + pp − 1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/spec/parallel_plan.h"
#include "tessera/spec/pipeline_schedule.h"

namespace tessera::plan {

struct PipelineOp {
  int64_t rank = 0;
  int64_t micro_batch = 0;
  int64_t chunk = 0;       // global stage 0..pp·vpp−1 (= local chunk·pp + rank)
  PipelineActionKind kind = PipelineActionKind::kForward;  // a compute kind: F, B, I or W
  double start_s = 0;
  double end_s = 0;
};

struct PipelineTimeline {
  std::vector<PipelineOp> ops;  // every compute action: 2·m·pp·vpp of them (3·m·pp for ZB-H1)
  double makespan_s = 0;
  double bubble_fraction = 0;   // idle share of pp·makespan
};

struct PipelineSimInput {
  PipelineSchedule schedule = PipelineSchedule::kOneFOneB;
  int64_t pp = 1;
  int64_t vpp = 1;
  int64_t micro_batches = 1;
  double forward_s = 1;   // one micro-batch through one rank's whole share of layers (all its chunks)
  double backward_s = 2;
  double p2p_s = 0;       // send latency between chunks
};

// Op times of the program overload; forward_s and backward_s as in PipelineSimInput.
struct PipelineTimes {
  double forward_s = 1;
  double backward_s = 2;
  double weight_share = 0.5;  // W's share of a split backward (ZB: I = (1−w)·B, W = w·B)
  double p2p_s = 0;
  // Uneven stages: each rank's own forward, backward and W seconds (size pp; W only read for split backwards);
  // empty: forward_s, backward_s and weight_share on every rank.
  std::vector<double> rank_forward_s, rank_backward_s, rank_weight_s;
  // Uneven virtual stages (interleaved: a rank's chunks differ, e.g. the LM head on the last rank's last chunk):
  // one micro-batch's forward, backward and W seconds through each global stage s = chunk·pp + rank (size
  // pp·vpp, not divided by vpp); when set they replace the per-rank and uniform times above.
  std::vector<double> stage_forward_s, stage_backward_s, stage_weight_s;
};

// Builds the schedule of input.schedule (spec/pipeline_schedule.h) and simulates it.
StatusOr<PipelineTimeline> simulate_pipeline(const PipelineSimInput& input);
// Simulates any program (e.g. ZB-H1, or one read back for checking); fails on a program that deadlocks.
StatusOr<PipelineTimeline> simulate_pipeline(const PipelineProgram& program, const PipelineTimes& times);

// Chrome/Perfetto trace-event JSON ({"traceEvents": [...]}): one complete event ("ph":"X") per op, one
// track per pipeline rank (tid), microseconds.
std::string pipeline_chrome_trace(const PipelineTimeline& timeline);

// The timeline as `tessera plan --json` carries it for `tessera report` (report/plan_page.h draws it):
// {"makespan_s", "bubble_fraction", "ranks": pp, "ops": [[rank, "F"|"B"|"I"|"W", micro_batch, start_s, end_s], ...]}.
std::string pipeline_timeline_json(const PipelineTimeline& timeline, int64_t pp);

}  // namespace tessera::plan

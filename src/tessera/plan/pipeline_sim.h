// Event-driven simulation of one step of a pipeline schedule (GPipe, 1F1B, interleaved 1F1B).
//
// Each of pp ranks holds vpp model chunks; a micro-batch's forward visits chunk 0..pp·vpp−1 (rank = chunk
// mod pp), its backward the reverse. A rank runs one op at a time, in the order its schedule lists them;
// an op starts when the rank is free and its dependency (the previous chunk's forward, or the next chunk's
// backward, + p2p latency) is done. With uniform op times the makespan is (m + (pp−1)/vpp)·(f + b) and the
// bubble fraction (pp−1)/(m·vpp + pp − 1) — (pp−1)/(m+pp−1) for GPipe and 1F1B.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera::plan {

struct PipelineOp {
  int64_t rank = 0;
  int64_t micro_batch = 0;
  int64_t chunk = 0;       // virtual stage 0..pp·vpp−1
  bool forward = true;
  double start_s = 0;
  double end_s = 0;
};

struct PipelineTimeline {
  std::vector<PipelineOp> ops;  // every forward and backward, 2·m·pp·vpp of them
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

StatusOr<PipelineTimeline> simulate_pipeline(const PipelineSimInput& input);

// Chrome/Perfetto trace-event JSON ({"traceEvents": [...]}): one complete event ("ph":"X") per op, one
// track per pipeline rank (tid), microseconds.
std::string pipeline_chrome_trace(const PipelineTimeline& timeline);

}  // namespace tessera::plan

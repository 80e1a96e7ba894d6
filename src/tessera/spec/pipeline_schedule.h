// Pipeline schedules as data: for each pipeline rank, the ordered list of actions it runs in one step.
// The runtime's pipeline executor and the planner's simulator (plan/pipeline_sim.h) run the same lists, so
// `tessera plan` and `tessera train` cannot disagree about the order of work.
//
// Stages: each of pp ranks holds vpp model chunks ("virtual stages"); global stage s = chunk·pp + rank
// (Megatron's interleaving: rank r holds stages r, r+pp, r+2pp, ...), S = pp·vpp stages in all. A
// micro-batch's forward runs stages 0..S−1, its backward S−1..0. Between stages on different ranks the
// activation (forward) or its gradient (backward) moves by one send on the producer and one recv on the
// consumer; consecutive stages on the same rank (pp = 1, vpp > 1) hand over locally, without messages.
//
// Generators (m = micro-batches, p = pp, v = vpp; idle fraction with unit-time F, B = 2F, no latency):
//   GPipe        all forwards, then all backwards                              (p−1)/(m+p−1), m in flight
//   1F1B         PipeDream-flush: p−r−1 warm-up forwards, then F/B pairs, drain  (p−1)/(m+p−1), p−r in flight
//   interleaved  Megatron's 1F1B over v chunks, micro-batches in groups of p;   (p−1)/(v·m+p−1)
//                warm-up (p−r−1)·2 + (v−1)·p forwards; needs m % p == 0
//   ZB-H1        zero bubble (Qi et al. 2023, "handcrafted H1"): backward split into B_input (I, the
//                activation gradient the previous stage waits for) and B_weight (W, deferred); 1F1B order
//                with I in place of B, and rank r holds its W back r steady steps so the Ws fill the drain
//                bubble. With F = I = W: (p−1)/(3m+p−1), the same p−r in flight as 1F1B; needs m >= p.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera {

enum class PipelineScheduleKind { kGPipe, kOneFOneB, kInterleaved, kZeroBubbleH1 };

enum class PipelineActionKind {
  kForward,
  kBackward,        // input and weight gradients together
  kBackwardInput,   // ZB: the activation gradient (sent on to the previous stage)
  kBackwardWeight,  // ZB: the weight gradient (local; may run later)
  kSendActivation,  // forward output of (micro_batch, chunk) to the rank of the next stage
  kRecvActivation,  // forward input of (micro_batch, chunk) from the rank of the previous stage
  kSendGrad,        // input gradient of (micro_batch, chunk) to the rank of the previous stage
  kRecvGrad,        // output gradient of (micro_batch, chunk) from the rank of the next stage
};

struct PipelineAction {
  PipelineActionKind kind = PipelineActionKind::kForward;
  int64_t micro_batch = 0;
  int64_t chunk = 0;  // virtual stage on this rank, 0..vpp−1 (the stage the action computes or feeds)
  bool operator==(const PipelineAction&) const = default;
};

// One step of a pipeline: ranks[r] is pipeline rank r's program (size pp).
struct PipelineProgram {
  PipelineScheduleKind kind = PipelineScheduleKind::kOneFOneB;
  int64_t pp = 1;
  int64_t vpp = 1;
  int64_t micro_batches = 1;
  std::vector<std::vector<PipelineAction>> ranks;

  int64_t stages() const { return pp * vpp; }
  int64_t stage_of(int64_t rank, int64_t chunk) const { return chunk * pp + rank; }
  int64_t rank_of_stage(int64_t stage) const { return stage % pp; }
  int64_t chunk_of_stage(int64_t stage) const { return stage / pp; }
};

const char* pipeline_schedule_kind_name(PipelineScheduleKind kind);  // "gpipe", "1f1b", "interleaved", "zb-h1"
bool parse_pipeline_schedule_kind(const std::string& text, PipelineScheduleKind* out);
const char* pipeline_action_name(PipelineActionKind kind);
// The generator of a `parallel.schedule` value (the runtime and the planner both map it so).
PipelineScheduleKind pipeline_schedule_kind(PipelineSchedule schedule);  // "F", "B", "I", "W", "send_act", ...

struct PipelineScheduleRequest {
  PipelineScheduleKind kind = PipelineScheduleKind::kOneFOneB;
  int64_t pp = 1;
  int64_t vpp = 1;
  int64_t micro_batches = 1;
  int64_t n_layer = 0;  // > 0: also check that the layers split evenly into pp·vpp chunks (interleaved)
};

// Whether the schedule can run this layout, without building it (the planner checks every candidate so);
// bad input gets one line naming the key, the values and a hint, e.g.
// "pipeline interleaved: needs micro-batches (6) to be a multiple of pp (4); hint: micro-batches 8".
Status check_pipeline_schedule(const PipelineScheduleRequest& request);
// Builds the program (after check_pipeline_schedule).
StatusOr<PipelineProgram> make_pipeline_schedule(const PipelineScheduleRequest& request);

// Checks a program: every micro-batch's forward then backward (B, or I then W) on every (rank, chunk)
// exactly once, each stage's forward after the previous stage's and its backward after the next stage's,
// every send matched by a recv of the same (micro_batch, stage) in the same order on the peer, and no
// deadlock when run with blocking sends into channels of capacity 1 (one per ordered rank pair and
// direction; simulated). The first violation comes back as one line naming the rank and the action.
Status validate_pipeline_schedule(const PipelineProgram& program);

// Most (micro-batch, chunk) forwards `rank` has run and still holds the activations of (forwards minus
// completed B or I), over the program: the schedule's activation memory, in micro-batches when vpp = 1
// (each chunk holds 1/vpp of a micro-batch's activations).
int64_t peak_in_flight(const PipelineProgram& program, int64_t rank);

// "F0.1 send_act0.1 ..." (micro_batch.chunk), one rank's program; for messages and tests.
std::string pipeline_program_text(const PipelineProgram& program, int64_t rank);

}  // namespace tessera

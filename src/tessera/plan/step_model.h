// The model of one training step on one accelerator of a job (docs/planner.md "Model of a step").
//
// Per micro-batch and pipeline stage (tokens M = b·t/cp on each rank):
//   compute  = Σ_layers [fwd + 2·fwd (backward) + recompute] of GEMMs (DeviceModel::gemm_seconds with the
//              tp-split shapes), attention core (causal with flash attention) and memory-bound traffic,
//              plus the LM head and loss spread over the stages (frameworks balance the last stage).
//   tp comm  = per layer 4 all-reduces (2 fwd, 2 bwd; +2 with full recompute) of M·C activations on the
//              tp group (RS+AG under sequence parallelism: same bytes), kTpExposed of it not overlapped.
//   cp comm  = ring attention: (cp−1) K,V chunk exchanges fwd, 2·(cp−1) bwd, hidden behind attention;
//              or Ulysses (Job::cp_mode): all-to-all of Q, K, V and the output over the cp group, exposed.
//   ep comm  = MoE layers: all-to-all dispatch and combine of the k routed copies of each token over the ep
//              group, forward and backward (Job::ep_exposed of it on the critical path).
//   host     = MoE layers: Job::moe_host_overhead_s + Job::moe_host_per_expert_s · E/ep per layer and
//              micro-batch (dropless routing's device sync keeps the CPU from launching ahead; the grouped GEMMs
//              are launched one local expert at a time), 1/3 in forward, 2/3 in backward.
//   pp comm  = one activation send and one gradient send per micro-batch and stage (×vpp interleaved).
//   offload  = offloaded layers' activations to the host in forward and back in backward over the host
//              link; only the part longer than the stage's forward (backward) compute is paid.
// Step = (m + (pp−1)/vpp) · t_micro-batch (the pipeline; bubble = (pp−1)/vpp of it)
//        + exposed dp traffic (gradient reduce-scatter/all-reduce hidden behind the last backward, parameter
//          all-gather behind the first forward; FSDP/ZeRO-3 gathers per micro-batch behind its compute)
//        + optimizer step (memory-bound: ~30 bytes per local parameter).
#pragma once

#include <string>

#include "tessera/plan/comm_model.h"
#include "tessera/plan/device_model.h"
#include "tessera/plan/flops.h"
#include "tessera/plan/job.h"
#include "tessera/plan/memory_model.h"

namespace tessera::plan {

struct StepPrediction {
  // Per micro-batch on one stage (what the pipeline simulator schedules).
  double forward_s = 0;   // forward incl. its tp/cp/pp comm
  double backward_s = 0;  // backward incl. recompute and its comm
  // Per step.
  double compute_s = 0;            // m micro-batches of pure compute on one rank
  double tp_comm_s = 0;            // exposed tensor-parallel collectives
  double cp_comm_s = 0;            // exposed context-parallel exchange
  double ep_comm_s = 0;            // exposed expert-parallel all-to-all (dispatch + combine)
  double host_wait_s = 0;          // MoE layers waiting on the host (Job::moe_host_overhead_s, _per_expert_s)
  double pp_comm_s = 0;            // pipeline sends
  double bubble_s = 0;             // pipeline fill and drain
  double offload_s = 0;            // per micro-batch: activation offload the host link cannot hide
  double dp_comm_s = 0;            // exposed data-parallel traffic
  double dp_comm_total_s = 0;      // data-parallel traffic before overlap
  double optimizer_s = 0;
  double step_time_s = 0;
  double bubble_fraction = 0;
  bool dp_crosses_scaleout = false;
  bool tp_crosses_scaleout = false;

  double tokens_per_step = 0;
  double tokens_per_s = 0;
  double model_flops = 0;      // kModelFull convention (6·N + 12·L·t·C per token)
  double executed_flops = 0;   // model FLOPs (same full-attention convention) + recomputed forward work
  double tflops_per_gpu = 0;   // model FLOPs / time / accelerators
  double mfu = 0;              // tflops_per_gpu / dense bf16 peak
  double mfu_format_peak = 0;  // tflops_per_gpu / dense peak of the job's GEMM format (= mfu for bf16 jobs)
  double hfu = 0;              // executed FLOPs / time / accelerators / dense bf16 peak (>= mfu)
  MemoryBreakdown memory;
};

// Predicts one step. `job.plan` must be valid for the model (callers check validate_job first).
StepPrediction predict_step(const Job& job, const AcceleratorSpec& accelerator, const ClusterLinks& links,
                            const DeviceModel& device);

// Checks that the layout is possible: positive factors, tp divides heads and kv heads and the MLP,
// pp·vpp divides the layers, cp divides the sequence, the batch divides into micro-batches and the world
// size matches `world_size`. Messages name every factor.
Status validate_job(const Job& job, int64_t world_size);

}  // namespace tessera::plan

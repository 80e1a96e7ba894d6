// Job: what the planner predicts — a model, its layout and batching (ParallelPlan), the number format of the
// GEMMs and a few framework traits that change the physics (flash attention, sequence parallelism,
// FSDP resharding). Shared by the step model, memory model, search, validation and calibration.
#pragma once

#include "tessera/spec/cluster_spec.h"
#include "tessera/spec/model_spec.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera::plan {

struct Job {
  ModelSpec model;
  ParallelPlan plan;
  GemmFormat gemm_format = GemmFormat::kBf16;  // fp8/fp4: GEMMs only; attention and the rest stay bf16
  bool flash_attention = true;     // fused attention: causal blocks skipped, no t×t scores stored
  bool sequence_parallel = true;   // with tp > 1: LayerNorm/dropout activations split over tp
  // ZeRO-3/FSDP: true = parameters gathered for every micro-batch (FULL_SHARD), false = kept gathered over
  // the accumulation steps (Llama 3's "not resharded after forward", ZeRO-2-like traffic).
  bool reshard_per_micro_batch = true;
  // Fraction of compute that data-parallel collectives can hide behind (bucketed, started as gradients are
  // ready). 0 where communication competes with compute for the same cores (CPU ranks sharing a machine).
  double dp_overlap = 0.9;

  int64_t seq_len() const { return model.seq_len; }
};

// The GEMM format a runtime precision implies.
inline GemmFormat gemm_format_for(Precision p) {
  switch (p) {
    case Precision::kFp32: return GemmFormat::kFp32;
    case Precision::kBf16: return GemmFormat::kBf16;
    case Precision::kFp8: return GemmFormat::kFp8;
  }
  return GemmFormat::kBf16;
}

}  // namespace tessera::plan

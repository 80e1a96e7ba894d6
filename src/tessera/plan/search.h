// Layout search: enumerate tp × cp × pp × vpp × ep (MoE models: divisors of the experts that divide a
// stage's ranks) × micro-batch × ZeRO stage × recompute for a model on N
// accelerators, drop layouts that are invalid (factors that do not divide) or do not fit in memory,
// rank the rest by predicted tokens/s. The step model is closed-form, so a candidate costs ~a microsecond.
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/plan/step_model.h"

namespace tessera::plan {

struct SearchSpace {
  int64_t gpus = 0;
  int64_t global_batch = 0;  // sequences; 0 = the power of two nearest 4M tokens
  GemmFormat gemm_format = GemmFormat::kBf16;
  GemmParts gemm_parts;  // parts of every candidate in another format (gemm_parts.h)
  Precision precision = Precision::kBf16;
  Framework framework = Framework::kGeneric;  // memory traits of every candidate (framework.h)
  int64_t offload_layers = 0;  // layers per stage offloaded to host memory (capped at each candidate's stage)
};

struct Candidate {
  Job job;
  StepPrediction step;
};

struct SearchResult {
  int64_t global_batch = 0;
  int64_t candidates = 0;  // layouts enumerated
  int64_t valid = 0;       // passed validate_job
  int64_t fit = 0;         // and fit in memory
  std::vector<Candidate> top;  // best first
};

StatusOr<SearchResult> search_layouts(const ModelSpec& model, const AcceleratorSpec& accelerator,
                                      const ClusterSpec& cluster, const SearchSpace& space, int64_t top_k);

}  // namespace tessera::plan

// Which layers each pipeline stage holds — one rule for the runtime (GptModel stages, parallel/pipeline_parallel.h),
// its start-up log and the planner's prediction of the runtime (plan/step_model.cc, Job::runtime_stages).
//
// Stages are balanced by compute, not by layer count: the last stage also runs the LM head and the loss, whose
// training FLOPs per token (6·C·V: the logits matmul and its two gradients) are worth h = head / block layers
// (a block: 3 × [2·(4C² + 2·C·F) + 2·T·C], its matmuls and causal attention, forward and backward) — ~2.5 for
// the test model (C = 64, V = 2048), ~10 for configs/small.toml (C = 384, V = 50257), ~2.5 for GPT-2 XL. The
// split takes the number of layers on the last stage, n, that minimises the slowest stage,
// max(⌈(L − n)/(S − 1)⌉, n + h) — on a tie, the n whose n + h is nearest the others' mean (L − n)/(S − 1); the
// other L − n layers go to stages 0..S−2, ⌊(L−n)/(S−1)⌋ each, the remainder one each to stages 1, 2, … (the
// first also runs the embeddings, a gather). With h = 0 this is an even split (126 layers over 16 stages: 7 on
// the first and on stage 14, 8 on the others). Megatron leaves this to flags (account_for_loss_in_pipeline_split,
// decoder_last_pipeline_num_layers); here it is the default. Every stage needs at least one layer (S ≤ L).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

// Layers [first, end) of one stage.
struct StageLayers {
  int64_t first = 0, end = 0;
  int64_t count() const { return end - first; }
  bool operator==(const StageLayers&) const = default;
};

// The layers of every one of `stages` stages over `n_layer` layers when the last stage's head costs
// `head_in_layers` blocks (see above); InvalidArgument naming parallel.pp when stages > n_layer or either is < 1.
StatusOr<std::vector<StageLayers>> pipeline_stage_layers(int64_t n_layer, int64_t stages, double head_in_layers = 0);
// The same for a GPT `spec`: h from its shape.
StatusOr<std::vector<StageLayers>> pipeline_stage_layers(const ModelSpec& spec, int64_t stages);
// h: the LM head and loss's training FLOPs per token over one block's.
double head_cost_in_layers(const ModelSpec& spec);

// "4+4+4" (layers per stage), for the start-up log.
std::string stage_sizes_text(const std::vector<StageLayers>& stages);

}  // namespace tessera

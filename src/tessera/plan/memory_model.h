// Memory per accelerator for one training step, on the pipeline stage that needs the most.
//
// Parameters per rank P = L/pp · layer_params / tp + V·C / tp (vocab-parallel embedding; 2·V·C/tp with an
// untied LM head and pp = 1, since the first stage holds the embedding and the last the head). Mixture-of-
// experts models hold all E experts of each MoE layer, split by ep·etp instead of tp, and shard their state
// over the expert-data-parallel group instead of dp·cp (layer_mix.h counts the layer kinds).
// Training state per parameter (MemoryTraits in job.h says which framework does what):
//   weights    2 B (bf16), 1 B with fp8 weight storage, 4 B for fp32 training
//   gradients  MemoryTraits::gradient_bytes: 4 (fp32 accumulation) or 2 (bf16 buffer)
//   optimizer  12 B: fp32 master copy, Adam m and v (8 B for fp32 training, whose weights are the master)
// ZeRO-1 shards the optimizer over dp·cp (cp ranks hold the same weights: Megatron's dp-cp group,
// torchtitan's dp_shard_cp), ZeRO-2 also the gradients, ZeRO-3/FSDP also the weights. FSDP without
// resharding (reshard_per_micro_batch = false) keeps the gathered weights through the step (ZeRO-2-like);
// with unsharded_gradient_accumulation the gradients also stay whole (fp32) until the last micro-batch.
// FSDP's gathered layers in flight (the current and the prefetched one, plus one layer's unreduced
// gradients) are counted in the buffers.
//
// Activations per layer per micro-batch, 2-byte tensors (Korthikanti et al. 2022, generalised to F, GQA and
// gated MLPs; other layer kinds — MLA, Mamba-2, MoE with k routed copies per token — in layer_mix.h's
// per-kind sizes, averaged over the stack), with sbh = b·(t/cp)·C:
//   kept on every tp rank   sbh·(4 (two norm inputs) + 4 (QKV and MLP inputs) + 2 (two dropout masks, if any))
//   split over tp           sbh·(2·(Q+2·KV)/C (q,k,v) + 2·Q/C (attention output) + 4·F/C·(1.5 if gated))
//   attention scores        5·NH·t²·b/cp (scores, softmax, dropout; 0 with flash attention)
// = 34·sbh + 5·NH·t²·b for GPT (F = 4C). Sequence parallelism divides all of it by tp (but the QKV and MLP
// inputs, 4·sbh, where the framework saves them all-gathered: saves_gathered_sp_inputs). Selective recompute
// (Megatron) drops the t² term; torchtitan's per-op policy keeps the layer input, the attention output and
// every other matmul output; full recompute keeps only the layer input (2·sbh). Whenever anything is
// recomputed (or offloaded), backward of one layer rebuilds that layer's whole set: one layer's worth on top.
// Offloaded layers (MemoryTraits::offload_layers) keep nothing on the device.
// In flight: 1F1B keeps min(pp, m) micro-batches on the first stage, interleaved ×(1 + (pp−1)/(pp·vpp)),
// GPipe all m. The last stage holds one micro-batch (GPipe: m) plus the loss's logits,
// b·(t/cp)·V/tp · MemoryTraits::loss_bytes_per_logit; with pp > 1 the breakdown is the stage with the
// larger total (`stage`), never the first stage's activations plus the last stage's logits.
// Buffers: 2 GiB for the runtime context, library workspaces and communication buckets, plus FSDP's.
//
// Not modelled: caching-allocator fragmentation and framework workspaces (fp8 casts, async-TP buffers,
// compiled graphs). Measured peaks run above the estimate (docs/planner.md "Memory"), so the verdict keeps
// a headroom: `fits` up to kFitsFraction of the capacity, `tight` up to kOomFraction, then `OOM`.
#pragma once

#include <string>

#include "tessera/plan/job.h"

namespace tessera::plan {

// The verdict's bands: fits (<= 90% of the capacity), tight (90-110%: within the estimate's error), OOM.
enum class MemoryBand { kFits, kTight, kOom };
const char* memory_band_name(MemoryBand band);  // "fits" | "tight" | "OOM"

struct MemoryBreakdown {
  double weights_gib = 0;
  double gradients_gib = 0;
  double optimizer_gib = 0;
  double activations_gib = 0;
  double logits_gib = 0;
  double buffers_gib = 0;
  double capacity_gib = 0;
  std::string stage;  // with pp > 1: the pipeline stage reported ("first" or "last"), the one needing more

  // Headroom bands of the verdict, as fractions of the capacity.
  static constexpr double kFitsFraction = 0.9;
  static constexpr double kOomFraction = 1.1;

  double total_gib() const {
    return weights_gib + gradients_gib + optimizer_gib + activations_gib + logits_gib + buffers_gib;
  }
  // Within the capacity: what search accepts.
  bool fits() const { return total_gib() <= capacity_gib; }
  // More than kOomFraction of the capacity: beyond the model's error, the job does not fit.
  bool clearly_oom() const { return total_gib() > kOomFraction * capacity_gib; }
  MemoryBand band() const;
  // "OOM: needs 93.1 GiB of 80 GiB (116%; weights 10.0, grads 20.0, optimizer 60.0, activations 1.1, ...)".
  std::string verdict() const;
};

// Bytes of activations one layer keeps for backward for one micro-batch on one rank (before the pipeline's
// in-flight count and before offload), under the job's recompute policy.
double activation_bytes_per_layer(const Job& job);
// Parameters held by one rank of the first pipeline stage before ZeRO sharding: `dense` (split by tp, the
// vocabulary matrices included) and `expert` (the routed experts, split by ep·etp).
struct RankParams {
  double dense = 0;
  double expert = 0;
};
RankParams rank_params(const Job& job);
double params_per_rank(const Job& job);  // dense + expert
// Layers of the larger pipeline stages when pp does not divide L: ⌈L/pp⌉ (the bound on offloaded layers).
inline int64_t max_layers_per_stage(int64_t n_layer, int64_t pp) { return (n_layer + pp - 1) / pp; }

MemoryBreakdown estimate_memory(const Job& job, double capacity_gib);

// The fewest layers per stage whose activations must be offloaded for the job to fit (0 if it fits as it
// is); -1 if it does not fit even with every layer offloaded.
int64_t min_offload_layers_to_fit(const Job& job, double capacity_gib);

}  // namespace tessera::plan

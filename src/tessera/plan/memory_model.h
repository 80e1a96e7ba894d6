// Memory per accelerator for one training step, on the pipeline stage that needs the most.
//
// Parameters per rank P = L/pp · layer_params / tp + V·C / tp (vocab-parallel embedding; 2·V·C/tp with an
// untied LM head and pp = 1, since the first stage holds the embedding and the last the head).
// Mixed precision (bf16/fp8): weights 2 B, gradients 4 B (fp32 accumulation), optimizer 12 B (fp32 master,
// Adam m, v); fp32: 4 + 4 + 8 B. FSDP without resharding (reshard_per_micro_batch = false) keeps the
// gathered weights through the step, so only gradients and optimizer are sharded (ZeRO-2-like). ZeRO-1 shards the optimizer over dp·cp (cp ranks hold
// the same weights: Megatron's dp-cp group, torchtitan's dp_shard_cp), ZeRO-2 also gradients, ZeRO-3/FSDP
// also weights.
// Activations per layer per micro-batch, 2-byte tensors (Korthikanti et al. 2022, generalised to F and GQA),
// with sbh = b·(t/cp)·C:
//   attention  sbh·(2 + 2·(C+2·KV)/C + 2 + 1)   + 5·NH·t²·b/cp (scores, softmax, dropout; 0 with flash)
//   MLP        sbh·(2 + 4·F/C·(1.5 if gated) + 1)
//   LayerNorms 4·sbh
// = 34·sbh + 5·NH·t²·b for GPT (F = 4C). Tensor parallelism divides the matmul-side tensors by tp; with
// sequence parallelism everything is divided by tp. Selective recompute drops the t² term, full recompute
// keeps only the layer input (2·sbh/tp). In flight: 1F1B keeps min(pp, m) micro-batches on the first stage,
// interleaved ×(1 + (pp−1)/(pp·vpp)), GPipe all m. The last stage holds one micro-batch (GPipe: m) plus the
// fp32 logits b·t·V/tp·4 B; with pp > 1 the breakdown is the stage with the larger total (`stage`), never
// the first stage's activations plus the last stage's logits.
// Buffers: a fixed 2 GiB for the runtime context, library workspaces and communication buckets.
#pragma once

#include <string>

#include "tessera/plan/job.h"

namespace tessera::plan {

struct MemoryBreakdown {
  double weights_gib = 0;
  double gradients_gib = 0;
  double optimizer_gib = 0;
  double activations_gib = 0;
  double logits_gib = 0;
  double buffers_gib = 0;
  double capacity_gib = 0;
  std::string stage;  // with pp > 1: the pipeline stage reported ("first" or "last"), the one needing more

  double total_gib() const {
    return weights_gib + gradients_gib + optimizer_gib + activations_gib + logits_gib + buffers_gib;
  }
  bool fits() const { return total_gib() <= capacity_gib; }
  // "OOM: needs 93.1 GiB > 80 GiB (weights 10.0, grads 20.0, optimizer 60.0, activations 1.1, ...)".
  std::string verdict() const;
};

// Bytes of activations one layer keeps for one micro-batch on one rank (before pipeline in-flight count).
double activation_bytes_per_layer(const Job& job);
// Parameters held by one rank of the first pipeline stage before ZeRO sharding.
double params_per_rank(const Job& job);

MemoryBreakdown estimate_memory(const Job& job, double capacity_gib);

}  // namespace tessera::plan

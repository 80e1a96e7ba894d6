// FLOP counting for a decoder-only transformer, and the conventions published runs use.
//
// Per sequence of length t through one layer, forward (C = n_embd, KV = kv_heads·HS, F = ffn):
//   matmuls    g = 2·t·(C·C [q] + 2·C·KV [k,v] + C·C [out] + m·C·F [MLP, m = 3 gated, 2 plain])
//   attention  a = 4·t²·C (QKᵀ and A·V), halved to 2·t²·C when causal masking skips the upper triangle
// LM head: h = 2·t·V·C. Backward costs twice the forward. Recomputation re-runs forward work:
// full = the whole layer forward again, selective = the attention core (a) again.
// Models with several layer kinds (MoE, MLA, sliding windows, Mamba-2, MTP: layer_mix.h) report g and a as
// the stack's totals divided by n_layer; MoE layers count their active (router + top-k + shared) weights.
#pragma once

#include <cstdint>

#include "tessera/spec/model_spec.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera::plan {

struct ForwardFlops {
  double layer_gemm = 0;       // g: one layer's matmuls, one sequence (mean over the layer kinds)
  double layer_attention = 0;  // a: one layer's attention core (Mamba: scan), one sequence (mean)
  double head = 0;             // h: LM head, one sequence
};

// Forward FLOPs of one sequence of length t.
ForwardFlops forward_flops(const ModelSpec& model, int64_t t, bool causal);

// How a source counts "TFLOP/s per GPU" / MFU:
//   kModelCausal  model FLOPs, causal attention halved, no recompute (Megatron-Bridge / NeMo). It is
//                 Megatron's num_floating_point_operations, which also counts sliding-window layers as full
//                 causal attention and a gated MLP as gated only when its activation is SiLU (gated_silu).
//   kModelFull    model FLOPs, full attention, no recompute (PaLM appendix B, Korthikanti MFU, llm-foundry):
//                 per token 6·N_mm + 12·L·t·C = ModelSpec::train_flops_per_token
//   kHardware     executed FLOPs with recomputation, full attention (Megatron SC21 eq. 3, HFU-like):
//                 full recompute gives 96·B·t·L·C²·(1 + t/6C + V/16LC)
enum class FlopConvention { kModelCausal, kModelFull, kHardware };
const char* flop_convention_name(FlopConvention c);

// FLOPs of one training step over `sequences` sequences of length t under a convention.
double step_flops(const ModelSpec& model, int64_t t, int64_t sequences, FlopConvention convention,
                  Recompute recompute);

// FLOPs the hardware executes for one sequence (forward + backward + recompute): causal attention when
// the kernel skips masked blocks (flash attention), full attention otherwise.
double executed_flops_per_sequence(const ModelSpec& model, int64_t t, Recompute recompute, bool causal_kernel);

}  // namespace tessera::plan

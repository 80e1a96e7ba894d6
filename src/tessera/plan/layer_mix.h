// LayerMix: what a model's layers are made of, by kind, for the models that are not a uniform stack of
// (attention + dense MLP) blocks — mixture-of-experts MLPs, multi-head latent attention (MLA), sliding-window
// attention, Mamba-2 mixers (hybrid stacks such as Nemotron-H) and DeepSeek-V3's multi-token-prediction
// (MTP) modules. The FLOP count (flops.h), the memory model and the step model add up the kinds; a plain
// GPT/Llama shape gives n_layer attention layers and n_layer dense MLPs, i.e. what they counted before.
//
// Matmul weights per token (one multiply-add each, 2 FLOPs forward), with C = n_embd, NH heads, HS the q/k
// head size, KV = kv_heads·HS, m = 3 for gated MLPs else 2:
//   attention (GQA)  2·C·NH·HS + 2·C·KV                                        (q, k, v, o)
//   attention (MLA)  C·ql + ql·NH·HS (or C·NH·HS without a q latent)           (q down, q up)
//                    + C·(kvl + rope) + kvl·NH·(HS − rope + dv) + NH·dv·C      (kv down, kv up, o)
//   Mamba-2          C·(2·d + 2·g·N + H) + d·C, d = H·P                         (in_proj, out_proj)
//   dense MLP        m·C·F
//   MoE MLP, active  C·E (router) + k·m·C·Fe (top-k experts) + m·C·Fs (shared experts)
//   MoE MLP, held    C·E + E·m·C·Fe + m·C·Fs
//   LatentMoE        the experts at the latent width ℓ (m·ℓ·Fe each) plus 2·C·ℓ of down/up projections around them
//                    (Megatron-Core moe_layer.py fc1_latent_proj/fc2_latent_proj; Nemotron 3 Super: C 4096, ℓ 1024)
// Mixer cores per token, forward, at sequence length t: attention 2·t·NH·(HS + dv) with full attention,
// half of it causal; a sliding window of w keys gives 2·w·NH·(HS + dv) full and 2·(w − w²/2t)·NH·(HS + dv)
// causal (w < t). Mamba-2's scan 7·d·N (Megatron's estimate for the SSD kernels).
#pragma once

#include <cstdint>

#include "tessera/core/status.h"
#include "tessera/spec/model_spec.h"

namespace tessera::plan {

struct LayerMix {
  double attention = 0;  // attention mixers, the MTP modules' included
  double window = 0;     // of which sliding-window
  double mamba = 0;      // Mamba-2 mixers
  double dense_ffn = 0;  // dense MLPs of ffn_hidden
  double moe_ffn = 0;    // MoE MLPs, the MTP modules' included
  double mtp = 0;        // MTP modules (each adds a 2C×C projection and an LM-head pass)
};

LayerMix layer_mix(const ModelSpec& m);
// The layers that hold weights: layer_mix with MTP passes that share one module's weights counted once
// (ModelSpec::mtp_shared_weights). Parameters and weight memory use it; FLOPs, time and activations layer_mix.
LayerMix held_layer_mix(const ModelSpec& m);

// The layer kinds of the `count` layers of the stack from index `first` (0-based; MTP modules are not in the stack):
// counted from ModelSpec::layer_pattern where the catalog gives one; else a transformer stack's layers are each one
// attention mixer and one MLP, an MoE model's dense MLPs first (moe_dense_layers: DeepSeek's first_k_dense_replace),
// and a hybrid stack without a pattern gives each layer its share of the stack's kinds. The range is clipped to the
// stack.
LayerMix layer_mix_of_layers(const ModelSpec& m, int64_t first, int64_t count);

inline bool is_moe(const ModelSpec& m) { return m.moe_experts > 0; }
inline bool is_mla(const ModelSpec& m) { return m.mla_kv_lora_rank > 0; }
// Value head size: MLA's v_head_dim, else the head size.
int64_t value_head_dim(const ModelSpec& m);

double attention_matmul_params(const ModelSpec& m);  // one attention layer
double mamba_inner_dim(const ModelSpec& m);          // d = mamba_heads · mamba_head_dim
double mamba_in_proj_width(const ModelSpec& m);      // 2·d + 2·g·N + H
double mamba_matmul_params(const ModelSpec& m);      // one Mamba-2 layer
double dense_ffn_params(const ModelSpec& m);         // one dense MLP
double moe_expert_width(const ModelSpec& m);         // the experts' input/output width: moe_latent_size, else C
double moe_expert_params(const ModelSpec& m);        // one routed expert
double moe_latent_params(const ModelSpec& m);        // LatentMoE's two C×ℓ projections (0 without)
double moe_shared_params(const ModelSpec& m);        // the shared experts of one layer
double moe_router_params(const ModelSpec& m);        // C·E
double moe_active_params(const ModelSpec& m);        // per token through one MoE layer
double moe_held_params(const ModelSpec& m);          // held by one MoE layer (all experts)

// Matmul weights one token goes through in a forward pass, LM head included (the "active parameters"
// of 6·N); all weights of the model (what memory holds), embedding and untied head included.
double active_matmul_params(const ModelSpec& m);
double total_params(const ModelSpec& m);

// Forward FLOPs per token of one attention layer's core (QKᵀ and A·V) averaged over the t positions.
double attention_core_flops_per_token(const ModelSpec& m, int64_t t, bool causal, bool windowed);
double mamba_scan_flops_per_token(const ModelSpec& m);

// The planner-only fields are consistent: top-k ≤ experts, counts within n_layer, MLA ranks positive...
Status validate_layer_mix(const ModelSpec& m);

}  // namespace tessera::plan

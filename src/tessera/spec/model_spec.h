// ModelSpec: the shape of a GPT-2-style decoder, shared by the runtime (model/) and the planner (plan/).
//
// Shape letters used across Tessera:
//   L  = n_layer     transformer blocks
//   NH = n_head      attention heads; HS = C / NH head size
//   C  = n_embd      model width; the MLP is 4C wide (ffn_hidden, GPT convention)
//   T  = seq_len     context length (learned positions: wpe has T rows)
//   V  = vocab_size  vocabulary (tied: the LM head is wte^T)
#pragma once

#include <cstdint>
#include <string>

#include "tessera/core/status.h"

namespace tessera {

class ConfigReader;

struct ModelSpec {
  int64_t n_layer = 4;       // L: transformer blocks
  int64_t n_head = 4;        // NH: attention heads, must divide n_embd
  int64_t n_embd = 256;      // C: model width
  int64_t seq_len = 256;     // T: context length (positions)
  int64_t vocab_size = 8192; // V: vocabulary size
  int64_t ffn_hidden = 0;    // MLP width; 0 means 4*C
  // Planner-only shape extensions (the runtime trains GPT-2 shapes; these keep GPT-2 behaviour at their
  // defaults). n_kv_head: key/value heads for grouped-query attention, 0 means n_head (plain MHA).
  // gated_mlp: SwiGLU-style MLP with three C×F matrices (gate, up, down) instead of two.
  int64_t n_kv_head = 0;
  bool gated_mlp = false;
  // tied_embeddings: the LM head is wte^T (GPT-2); false = a separate V×C output matrix (Llama, Nemotron),
  // counted in the parameters and memory, not in the FLOPs (the embedding is a lookup).
  // head_dim: attention head size when not C/NH (PaLM 540B: 48 heads × 256 = 12288 ≠ 18432); 0 = C/NH.
  // learned_positions: a T×C position table (GPT-2's wpe); false for rotary/ALiBi models.
  bool tied_embeddings = true;
  int64_t head_dim = 0;
  bool learned_positions = true;

  // Planner-only layer kinds (src/tessera/plan/layer_mix.h reads them; the runtime ignores them and
  // num_params()/matmul_params() below count the dense GPT shape only). All default to "not present".
  // Mixture of experts: every FFN layer after the first moe_dense_layers is a router over moe_experts
  // experts of width moe_ffn_hidden (gated like the dense MLP), moe_top_k of them active per token, plus
  // always-active shared experts of total width moe_shared_ffn_hidden (0 = none).
  int64_t moe_experts = 0;
  int64_t moe_top_k = 0;
  int64_t moe_ffn_hidden = 0;
  int64_t moe_shared_ffn_hidden = 0;
  int64_t moe_dense_layers = 0;
  // LatentMoE (Nemotron 3 Super/Ultra; Megatron-Core's moe_latent_size): the routed experts work in a latent width
  // moe_latent_size < n_embd — a C×latent projection before the dispatch and a latent×C one after the combine,
  // both outside the experts and unsharded — so expert weights, dispatch and combine are latent-wide. The router
  // and the shared experts stay at n_embd. 0 = experts at n_embd.
  int64_t moe_latent_size = 0;
  // Multi-head latent attention (DeepSeek-V2/V3): K and V come from a kv_lora_rank latent, Q from a
  // q_lora_rank latent (0 = a plain C×NH·HS projection); HS = head_dim is the q/k head size including
  // mla_rope_dim decoupled rotary dims; values have mla_v_head_dim. mla_kv_lora_rank > 0 turns MLA on.
  int64_t mla_q_lora_rank = 0;
  int64_t mla_kv_lora_rank = 0;
  int64_t mla_rope_dim = 0;
  int64_t mla_v_head_dim = 0;
  // Sliding-window attention: window_layers of the attention layers attend to the last attention_window keys.
  int64_t attention_window = 0;
  int64_t window_layers = 0;
  // Hybrid stacks (Nemotron-H): n_layer counts every layer of the pattern; attention_layers of them are
  // attention (0 = n_layer − mamba_layers), mamba_layers are Mamba-2 mixers (mamba_heads × mamba_head_dim
  // inner width, mamba_state state size, mamba_groups B/C groups), ffn_layers are MLP/MoE (0 = n_layer:
  // every layer is attention + MLP, the transformer block).
  int64_t attention_layers = 0;
  int64_t mamba_layers = 0;
  int64_t mamba_heads = 0;
  int64_t mamba_head_dim = 0;
  int64_t mamba_state = 0;
  int64_t mamba_groups = 0;
  int64_t ffn_layers = 0;
  // DeepSeek-V3 multi-token prediction: each module is one more transformer layer, a 2C×C projection and
  // another pass through the (shared) LM head.
  int64_t mtp_layers = 0;
  // The MTP passes share one module's weights (Megatron-Core's mtp_use_repeated_layer: Nemotron 3 Super's one
  // "*E" block run mtp_layers times): FLOPs and activations count every pass, weights one module.
  bool mtp_shared_weights = false;
  // A hybrid stack's layer kinds in order, one character per layer (Megatron-Core's hybrid_layer_pattern: M Mamba-2,
  // * attention, E MoE MLP, - dense MLP) where the catalog cites one; "" = not given. Planner-only: it says which
  // kinds a range of layers holds (plan/gemm_parts.h: the last layers a recipe keeps in bf16); the counts above stay
  // the model's.
  std::string layer_pattern;
  // The gated MLP's activation is SiLU (SwiGLU). Megatron's FLOP formula (Megatron-LM/Bridge's
  // num_floating_point_operations) counts a gated MLP only under args.swiglu, so a model that gates another
  // activation (GPT-OSS: clamped quick-GELU) is counted there with two matrices. Planner-only.
  bool gated_silu = true;

  int64_t ffn() const { return ffn_hidden > 0 ? ffn_hidden : 4 * n_embd; }
  int64_t head_size() const { return head_dim > 0 ? head_dim : n_embd / n_head; }
  // Width of the query (and attention output) projection: NH·HS (= C unless head_dim is set).
  int64_t q_dim() const { return n_head * head_size(); }
  int64_t kv_heads() const { return n_kv_head > 0 ? n_kv_head : n_head; }

  // Total parameters: wte V·C + wpe T·C + per layer (2 LN 4C, qkv 3C²+3C, proj C²+C,
  // fc1 C·F+F, fc2 F·C+C) + final LN 2C; + V·C for an untied head. Q = NH·HS replaces C in q and proj.
  int64_t num_params() const;
  // Weights used in matmuls per token (the planner's and MFU's N): 12·L·C² (F=4C) + V·C (tied head).
  // With GQA the k,v projections are C×(kv_heads·HS); a gated MLP has 3·C·F weights.
  int64_t matmul_params() const;
  // Model FLOPs per trained token at context length `t` (PaLM convention, no recomputation, causal
  // attention not halved): 6·N_mm + 12·L·t·C. docs/training.md derives it.
  double train_flops_per_token(int64_t t) const;

  // Checks every field; the message names the field, expected and found, e.g.
  // "model.n_head: expected a divisor of model.n_embd (384), found 5".
  Status validate() const;
};

// Reads [model] from a config (keys n_layer, n_head, n_embd, seq_len, vocab_size, ffn_hidden).
ModelSpec read_model_spec(ConfigReader& reader);

}  // namespace tessera

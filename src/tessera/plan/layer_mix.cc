#include "tessera/plan/layer_mix.h"

#include <algorithm>

namespace tessera::plan {

namespace {
double d(int64_t v) { return static_cast<double>(v); }
double mlp_matrices(const ModelSpec& m) { return m.gated_mlp ? 3.0 : 2.0; }
bool plain(const ModelSpec& m) {
  return !is_moe(m) && !is_mla(m) && m.mamba_layers == 0 && m.mtp_layers == 0 && m.attention_layers == 0 &&
         m.ffn_layers == 0;
}
}  // namespace

LayerMix layer_mix(const ModelSpec& m) {
  LayerMix mix;
  mix.mtp = d(m.mtp_layers);
  mix.mamba = d(m.mamba_layers);
  mix.attention = d(m.attention_layers > 0 ? m.attention_layers : m.n_layer - m.mamba_layers) + mix.mtp;
  mix.window = d(std::min(m.window_layers, m.attention_layers > 0 ? m.attention_layers : m.n_layer - m.mamba_layers));
  const double ffn = d(m.ffn_layers > 0 ? m.ffn_layers : m.n_layer);
  if (is_moe(m)) {
    mix.dense_ffn = d(m.moe_dense_layers);
    mix.moe_ffn = ffn - mix.dense_ffn + mix.mtp;
  } else {
    mix.dense_ffn = ffn + mix.mtp;
  }
  return mix;
}

LayerMix held_layer_mix(const ModelSpec& m) {
  if (!m.mtp_shared_weights || m.mtp_layers <= 1) return layer_mix(m);
  ModelSpec one = m;
  one.mtp_layers = 1;
  return layer_mix(one);
}

LayerMix layer_mix_of_layers(const ModelSpec& m, int64_t first, int64_t count) {
  LayerMix mix;
  first = std::clamp<int64_t>(first, 0, m.n_layer);
  const int64_t end = std::clamp<int64_t>(first + std::max<int64_t>(count, 0), first, m.n_layer);
  if (end <= first) return mix;
  ModelSpec stack = m;
  stack.mtp_layers = 0;
  const LayerMix whole = layer_mix(stack);
  const double n = d(end - first), L = d(m.n_layer);
  if (!m.layer_pattern.empty()) {
    for (int64_t i = first; i < end; ++i) {
      const char c = m.layer_pattern[static_cast<size_t>(i)];
      mix.attention += c == '*' ? 1 : 0;
      mix.mamba += c == 'M' ? 1 : 0;
      mix.moe_ffn += c == 'E' ? 1 : 0;
      mix.dense_ffn += c == '-' ? 1 : 0;
    }
    mix.window = whole.attention > 0 ? mix.attention * whole.window / whole.attention : 0;
    return mix;
  }
  if (m.mamba_layers == 0 && m.attention_layers == 0 && m.ffn_layers == 0) {
    mix.attention = n;
    mix.window = whole.window * n / L;
    const int64_t dense_end = is_moe(m) ? std::clamp<int64_t>(m.moe_dense_layers, first, end) : end;
    mix.dense_ffn = d(dense_end - first);
    mix.moe_ffn = is_moe(m) ? n - mix.dense_ffn : 0;
    return mix;
  }
  mix.attention = whole.attention * n / L;
  mix.window = whole.window * n / L;
  mix.mamba = whole.mamba * n / L;
  mix.dense_ffn = whole.dense_ffn * n / L;
  mix.moe_ffn = whole.moe_ffn * n / L;
  return mix;
}

int64_t value_head_dim(const ModelSpec& m) {
  return is_mla(m) && m.mla_v_head_dim > 0 ? m.mla_v_head_dim : m.head_size();
}

double attention_matmul_params(const ModelSpec& m) {
  const double C = d(m.n_embd), NH = d(m.n_head), HS = d(m.head_size());
  if (!is_mla(m)) return 2 * C * d(m.q_dim()) + 2 * C * d(m.kv_heads() * m.head_size());
  const double ql = d(m.mla_q_lora_rank), kvl = d(m.mla_kv_lora_rank), rope = d(m.mla_rope_dim);
  const double dv = d(value_head_dim(m));
  const double q = ql > 0 ? C * ql + ql * NH * HS : C * NH * HS;
  return q + C * (kvl + rope) + kvl * NH * (HS - rope + dv) + NH * dv * C;
}

double mamba_inner_dim(const ModelSpec& m) { return d(m.mamba_heads * m.mamba_head_dim); }
double mamba_in_proj_width(const ModelSpec& m) {
  return 2 * mamba_inner_dim(m) + 2 * d(m.mamba_groups * m.mamba_state) + d(m.mamba_heads);
}
double mamba_matmul_params(const ModelSpec& m) {
  return d(m.n_embd) * mamba_in_proj_width(m) + mamba_inner_dim(m) * d(m.n_embd);
}

double dense_ffn_params(const ModelSpec& m) { return mlp_matrices(m) * d(m.n_embd) * d(m.ffn()); }
double moe_expert_width(const ModelSpec& m) { return d(m.moe_latent_size > 0 ? m.moe_latent_size : m.n_embd); }
double moe_expert_params(const ModelSpec& m) { return mlp_matrices(m) * moe_expert_width(m) * d(m.moe_ffn_hidden); }
double moe_shared_params(const ModelSpec& m) { return mlp_matrices(m) * d(m.n_embd) * d(m.moe_shared_ffn_hidden); }
double moe_router_params(const ModelSpec& m) { return d(m.n_embd) * d(m.moe_experts); }
double moe_latent_params(const ModelSpec& m) { return 2 * d(m.n_embd) * d(m.moe_latent_size); }
double moe_active_params(const ModelSpec& m) {
  return moe_router_params(m) + moe_latent_params(m) + d(m.moe_top_k) * moe_expert_params(m) + moe_shared_params(m);
}
double moe_held_params(const ModelSpec& m) {
  return moe_router_params(m) + moe_latent_params(m) + d(m.moe_experts) * moe_expert_params(m) + moe_shared_params(m);
}

double active_matmul_params(const ModelSpec& m) {
  if (plain(m)) return d(m.matmul_params());
  const LayerMix mix = layer_mix(m);
  const double C = d(m.n_embd);
  return mix.attention * attention_matmul_params(m) + mix.mamba * mamba_matmul_params(m) +
         mix.dense_ffn * dense_ffn_params(m) + mix.moe_ffn * moe_active_params(m) + mix.mtp * 2 * C * C +
         (1 + mix.mtp) * d(m.vocab_size) * C;
}

double total_params(const ModelSpec& m) {
  if (plain(m)) return d(m.num_params());
  const LayerMix mix = held_layer_mix(m);
  const double C = d(m.n_embd);
  const double layers = mix.attention * attention_matmul_params(m) + mix.mamba * mamba_matmul_params(m) +
                        mix.dense_ffn * dense_ffn_params(m) + mix.moe_ffn * moe_held_params(m) + mix.mtp * 2 * C * C;
  return layers + d(m.vocab_size) * C * (m.tied_embeddings ? 1 : 2) + (m.learned_positions ? d(m.seq_len) * C : 0);
}

double attention_core_flops_per_token(const ModelSpec& m, int64_t t, bool causal, bool windowed) {
  const double width = d(m.n_head) * d(m.head_size() + value_head_dim(m));  // QKᵀ over HS, A·V over dv
  const double T = d(t);
  double keys = causal ? T / 2 : T;  // keys each query attends to, on average
  if (windowed && m.attention_window > 0 && m.attention_window < t) {
    const double w = d(m.attention_window);
    keys = causal ? w - w * w / (2 * T) : w;
  }
  return 2 * keys * width;
}

double mamba_scan_flops_per_token(const ModelSpec& m) { return 7 * mamba_inner_dim(m) * d(m.mamba_state); }

Status validate_layer_mix(const ModelSpec& m) {
  const struct {
    const char* key;
    int64_t value;
  } non_negative[] = {{"moe_experts", m.moe_experts},           {"moe_top_k", m.moe_top_k},
                      {"moe_ffn_hidden", m.moe_ffn_hidden},     {"moe_shared_ffn_hidden", m.moe_shared_ffn_hidden},
                      {"moe_dense_layers", m.moe_dense_layers}, {"moe_latent_size", m.moe_latent_size},
                      {"mla_q_lora_rank", m.mla_q_lora_rank},
                      {"mla_kv_lora_rank", m.mla_kv_lora_rank}, {"mla_rope_dim", m.mla_rope_dim},
                      {"mla_v_head_dim", m.mla_v_head_dim},     {"attention_window", m.attention_window},
                      {"window_layers", m.window_layers},       {"attention_layers", m.attention_layers},
                      {"mamba_layers", m.mamba_layers},         {"mamba_heads", m.mamba_heads},
                      {"mamba_head_dim", m.mamba_head_dim},     {"mamba_state", m.mamba_state},
                      {"mamba_groups", m.mamba_groups},         {"ffn_layers", m.ffn_layers},
                      {"mtp_layers", m.mtp_layers}};
  for (const auto& f : non_negative) {
    if (f.value < 0) return invalid_argument_error("model.{}: expected >= 0, found {}", f.key, f.value);
  }
  if (is_moe(m)) {
    if (m.moe_top_k < 1 || m.moe_top_k > m.moe_experts) {
      return invalid_argument_error("model.moe_top_k: expected 1..moe_experts ({}), found {}", m.moe_experts, m.moe_top_k);
    }
    if (m.moe_ffn_hidden <= 0) {
      return invalid_argument_error("model.moe_ffn_hidden: expected a positive expert width with moe_experts = {}, found {}",
                                    m.moe_experts, m.moe_ffn_hidden);
    }
    const int64_t ffn = m.ffn_layers > 0 ? m.ffn_layers : m.n_layer;
    if (m.moe_dense_layers > ffn) {
      return invalid_argument_error("model.moe_dense_layers: expected at most the MLP layers ({}), found {}", ffn,
                                    m.moe_dense_layers);
    }
    if (m.moe_latent_size >= m.n_embd) {
      return invalid_argument_error("model.moe_latent_size: expected 0 (experts at n_embd) or less than n_embd ({}), found {}",
                                    m.n_embd, m.moe_latent_size);
    }
  } else if (m.moe_top_k > 0 || m.moe_ffn_hidden > 0 || m.moe_shared_ffn_hidden > 0 || m.moe_dense_layers > 0 ||
             m.moe_latent_size > 0) {
    return invalid_argument_error("model.moe_experts: expected > 0 when other moe_* keys are set, found 0");
  }
  if (is_mla(m) && (m.mla_rope_dim >= m.head_size() || m.mla_v_head_dim <= 0)) {
    return invalid_argument_error(
        "model.mla_*: expected 0 <= mla_rope_dim < head_dim ({}) and mla_v_head_dim > 0, found rope {} and v {}",
        m.head_size(), m.mla_rope_dim, m.mla_v_head_dim);
  }
  if (m.mamba_layers > m.n_layer) {
    return invalid_argument_error("model.mamba_layers: expected at most n_layer ({}), found {}", m.n_layer, m.mamba_layers);
  }
  if (m.mamba_layers > 0 && (m.mamba_heads <= 0 || m.mamba_head_dim <= 0 || m.mamba_state <= 0 || m.mamba_groups <= 0)) {
    return invalid_argument_error("model.mamba_*: expected positive mamba_heads, mamba_head_dim, mamba_state and "
                                  "mamba_groups with mamba_layers = {}",
                                  m.mamba_layers);
  }
  const int64_t attention = m.attention_layers > 0 ? m.attention_layers : m.n_layer - m.mamba_layers;
  if (m.attention_layers + m.mamba_layers > m.n_layer) {
    return invalid_argument_error("model.attention_layers + mamba_layers: expected at most n_layer ({}), found {}",
                                  m.n_layer, m.attention_layers + m.mamba_layers);
  }
  if (m.window_layers > attention || (m.window_layers > 0 && m.attention_window <= 0)) {
    return invalid_argument_error("model.window_layers: expected at most the attention layers ({}) and a positive "
                                  "attention_window, found {} layers, window {}",
                                  attention, m.window_layers, m.attention_window);
  }
  if (m.ffn_layers > m.n_layer) {
    return invalid_argument_error("model.ffn_layers: expected at most n_layer ({}), found {}", m.n_layer, m.ffn_layers);
  }
  if (!m.layer_pattern.empty()) {
    int64_t n[4] = {0, 0, 0, 0};  // M, *, E, -
    for (char c : m.layer_pattern) {
      const size_t k = c == 'M' ? 0 : c == '*' ? 1 : c == 'E' ? 2 : c == '-' ? 3 : 4;
      if (k == 4) return invalid_argument_error("model.layer_pattern: expected only M, *, E and -, found '{}'", c);
      ++n[k];
    }
    const int64_t ffn = m.ffn_layers > 0 ? m.ffn_layers : m.n_layer;
    const bool fits = static_cast<int64_t>(m.layer_pattern.size()) == m.n_layer && n[0] == m.mamba_layers &&
                      n[1] == attention && n[2] + n[3] == ffn && (is_moe(m) ? n[3] == m.moe_dense_layers : n[2] == 0);
    if (!fits) {
      return invalid_argument_error("model.layer_pattern: expected n_layer ({}) layers with the model's counts (M {}, * "
                                    "{}, E/- {}), found {} layers (M {}, * {}, E {}, - {})",
                                    m.n_layer, m.mamba_layers, attention, ffn, m.layer_pattern.size(), n[0], n[1], n[2],
                                    n[3]);
    }
  }
  return Status();
}

}  // namespace tessera::plan

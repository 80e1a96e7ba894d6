#include "tessera/ckpt/gpt2_names.h"

#include <fmt/format.h>

namespace tessera {

std::vector<Gpt2TensorName> gpt2_tensor_names(const ModelSpec& spec) {
  const int64_t C = spec.n_embd, F = spec.ffn(), V = spec.vocab_size, T = spec.seq_len;
  std::vector<Gpt2TensorName> names;
  names.push_back({"wte", {V, C}, "transformer.wte.weight", false, "token_embd.weight"});
  names.push_back({"wpe", {T, C}, "transformer.wpe.weight", false, "position_embd.weight"});
  for (int64_t i = 0; i < spec.n_layer; ++i) {
    const std::string t = fmt::format("h.{}.", i), h = fmt::format("transformer.h.{}.", i), g = fmt::format("blk.{}.", i);
    names.push_back({t + "ln1.weight", {C}, h + "ln_1.weight", false, g + "attn_norm.weight"});
    names.push_back({t + "ln1.bias", {C}, h + "ln_1.bias", false, g + "attn_norm.bias"});
    names.push_back({t + "attn.qkv.weight", {3 * C, C}, h + "attn.c_attn.weight", true, g + "attn_qkv.weight"});
    names.push_back({t + "attn.qkv.bias", {3 * C}, h + "attn.c_attn.bias", false, g + "attn_qkv.bias"});
    names.push_back({t + "attn.proj.weight", {C, C}, h + "attn.c_proj.weight", true, g + "attn_output.weight"});
    names.push_back({t + "attn.proj.bias", {C}, h + "attn.c_proj.bias", false, g + "attn_output.bias"});
    names.push_back({t + "ln2.weight", {C}, h + "ln_2.weight", false, g + "ffn_norm.weight"});
    names.push_back({t + "ln2.bias", {C}, h + "ln_2.bias", false, g + "ffn_norm.bias"});
    names.push_back({t + "mlp.fc.weight", {F, C}, h + "mlp.c_fc.weight", true, g + "ffn_up.weight"});
    names.push_back({t + "mlp.fc.bias", {F}, h + "mlp.c_fc.bias", false, g + "ffn_up.bias"});
    names.push_back({t + "mlp.proj.weight", {C, F}, h + "mlp.c_proj.weight", true, g + "ffn_down.weight"});
    names.push_back({t + "mlp.proj.bias", {C}, h + "mlp.c_proj.bias", false, g + "ffn_down.bias"});
  }
  names.push_back({"lnf.weight", {C}, "transformer.ln_f.weight", false, "output_norm.weight"});
  names.push_back({"lnf.bias", {C}, "transformer.ln_f.bias", false, "output_norm.bias"});
  return names;
}

Status check_gpt2_architecture(const ModelSpec& spec) {
  const auto refuse = [](std::string_view what) {
    return invalid_argument_error("the model has {}; GPT-2 (Hugging Face and llama.cpp) has not", what);
  };
  if (spec.gated_mlp) return refuse("a gated MLP");
  if (!spec.tied_embeddings) return refuse("untied embeddings");
  if (!spec.learned_positions) return refuse("no learned position embeddings");
  if (spec.kv_heads() != spec.n_head) return refuse("grouped-query attention (n_kv_head != n_head)");
  if (spec.head_size() * spec.n_head != spec.n_embd) return refuse("head_dim * n_head != n_embd");
  if (spec.ffn() != 4 * spec.n_embd) {
    return invalid_argument_error("the model's MLP is {} wide; GPT-2 (Hugging Face) needs 4 * n_embd = {}", spec.ffn(),
                                  4 * spec.n_embd);
  }
  return Status();
}

void transpose_f32(const float* in, int64_t rows, int64_t cols, float* out) {
  constexpr int64_t kBlock = 32;  // cache-sized tiles
  for (int64_t i0 = 0; i0 < rows; i0 += kBlock) {
    for (int64_t j0 = 0; j0 < cols; j0 += kBlock) {
      for (int64_t i = i0; i < std::min(rows, i0 + kBlock); ++i) {
        for (int64_t j = j0; j < std::min(cols, j0 + kBlock); ++j) out[j * rows + i] = in[i * cols + j];
      }
    }
  }
}

}  // namespace tessera

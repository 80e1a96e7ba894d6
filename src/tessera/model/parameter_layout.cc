#include "tessera/model/parameter_layout.h"

#include <fmt/format.h>

namespace tessera {

ParameterLayout::ParameterLayout(const ModelSpec& spec) {
  const int64_t C = spec.n_embd, F = spec.ffn(), V = spec.vocab_size, T = spec.seq_len;
  wte_ = add("wte", {V, C}, ParamKind::kEmbedding);
  wpe_ = add("wpe", {T, C}, ParamKind::kEmbedding);
  for (int64_t i = 0; i < spec.n_layer; ++i) {
    const std::string p = fmt::format("h.{}.", i);
    BlockParams b;
    b.ln1_w = add(p + "ln1.weight", {C}, ParamKind::kNormWeight);
    b.ln1_b = add(p + "ln1.bias", {C}, ParamKind::kNormBias);
    b.qkv_w = add(p + "attn.qkv.weight", {3 * C, C}, ParamKind::kWeight);
    b.qkv_b = add(p + "attn.qkv.bias", {3 * C}, ParamKind::kBias);
    b.proj_w = add(p + "attn.proj.weight", {C, C}, ParamKind::kResidualWeight);
    b.proj_b = add(p + "attn.proj.bias", {C}, ParamKind::kBias);
    b.ln2_w = add(p + "ln2.weight", {C}, ParamKind::kNormWeight);
    b.ln2_b = add(p + "ln2.bias", {C}, ParamKind::kNormBias);
    b.fc_w = add(p + "mlp.fc.weight", {F, C}, ParamKind::kWeight);
    b.fc_b = add(p + "mlp.fc.bias", {F}, ParamKind::kBias);
    b.fcproj_w = add(p + "mlp.proj.weight", {C, F}, ParamKind::kResidualWeight);
    b.fcproj_b = add(p + "mlp.proj.bias", {C}, ParamKind::kBias);
    blocks_.push_back(b);
  }
  lnf_w_ = add("lnf.weight", {C}, ParamKind::kNormWeight);
  lnf_b_ = add("lnf.bias", {C}, ParamKind::kNormBias);
}

int64_t ParameterLayout::add(std::string name, std::vector<int64_t> shape, ParamKind kind) {
  ParamTensor t{.name = std::move(name), .shape = std::move(shape), .offset = total_, .numel = 0, .kind = kind};
  t.numel = 1;
  for (int64_t d : t.shape) t.numel *= d;
  total_ += t.numel;
  tensors_.push_back(std::move(t));
  return tensors_.back().offset;
}

}  // namespace tessera

#include "tessera/model/parameter_layout.h"

#include <algorithm>

#include <fmt/format.h>

namespace tessera {

ParameterLayout::ParameterLayout(const ModelSpec& spec, int64_t unit_alignment)
    : unit_alignment_(std::max<int64_t>(1, unit_alignment)) {
  const int64_t C = spec.n_embd, F = spec.ffn(), V = spec.vocab_size, T = spec.seq_len;
  wte_ = add("wte", {V, C}, ParamKind::kEmbedding);
  wpe_ = add("wpe", {T, C}, ParamKind::kEmbedding);
  close_unit("embeddings", 0);
  for (int64_t i = 0; i < spec.n_layer; ++i) {
    const int64_t begin = total_;
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
    close_unit(fmt::format("h.{}", i), begin);
  }
  const int64_t begin = total_;
  lnf_w_ = add("lnf.weight", {C}, ParamKind::kNormWeight);
  lnf_b_ = add("lnf.bias", {C}, ParamKind::kNormBias);
  close_unit("final_norm", begin);
}

void ParameterLayout::close_unit(std::string name, int64_t begin) {
  const int64_t used = total_ - begin;
  total_ = begin + (used + unit_alignment_ - 1) / unit_alignment_ * unit_alignment_;
  tensor_units_.resize(tensors_.size(), static_cast<int>(units_.size()));
  units_.push_back(ParamUnit{.name = std::move(name), .begin = begin, .end = total_, .used = used});
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

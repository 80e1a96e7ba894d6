#include "tessera/model/parameter_layout.h"

#include <algorithm>

#include <fmt/format.h>

#include "tessera/core/check.h"

namespace tessera {

ParameterLayout::ParameterLayout(const ModelSpec& spec, int64_t unit_alignment, ModelStage stage)
    : unit_alignment_(std::max<int64_t>(1, unit_alignment)), stage_(stage) {
  const int64_t C = spec.n_embd, F = spec.ffn(), V = spec.vocab_size, T = spec.seq_len;
  first_layer_ = stage.first_layer;
  end_layer_ = stage.end_layer < 0 ? spec.n_layer : stage.end_layer;
  TESSERA_CHECK(first_layer_ >= 0 && first_layer_ <= end_layer_ && end_layer_ <= spec.n_layer,
                "ParameterLayout: stage layers [{}, {}) outside [0, {}]", first_layer_, end_layer_, spec.n_layer);
  has_embeddings_ = stage.encoder || stage.head;
  if (has_embeddings_) {
    wte_ = add("wte", {V, C}, ParamKind::kEmbedding);
    wpe_ = add("wpe", {T, C}, ParamKind::kEmbedding);
    close_unit("embeddings", 0);
  }
  constexpr int64_t kTensorsPerBlock = 12;
  for (int64_t i = first_layer_; i < end_layer_; ++i) {
    const int64_t begin = total_;
    next_global_index_ = 2 + kTensorsPerBlock * i;
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
  if (stage.head) {
    const int64_t begin = total_;
    next_global_index_ = 2 + kTensorsPerBlock * spec.n_layer;
    lnf_w_ = add("lnf.weight", {C}, ParamKind::kNormWeight);
    lnf_b_ = add("lnf.bias", {C}, ParamKind::kNormBias);
    close_unit("final_norm", begin);
  }
}

void ParameterLayout::close_unit(std::string name, int64_t begin) {
  const int64_t used = total_ - begin;
  total_ = begin + (used + unit_alignment_ - 1) / unit_alignment_ * unit_alignment_;
  tensor_units_.resize(tensors_.size(), static_cast<int>(units_.size()));
  units_.push_back(ParamUnit{.name = std::move(name), .begin = begin, .end = total_, .used = used});
}

int64_t ParameterLayout::add(std::string name, std::vector<int64_t> shape, ParamKind kind) {
  ParamTensor t{.name = std::move(name), .shape = std::move(shape), .offset = total_, .numel = 0, .kind = kind,
                .global_index = next_global_index_++};
  t.numel = 1;
  for (int64_t d : t.shape) t.numel *= d;
  total_ += t.numel;
  tensors_.push_back(std::move(t));
  return tensors_.back().offset;
}

}  // namespace tessera

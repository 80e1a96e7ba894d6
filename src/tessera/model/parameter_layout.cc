#include "tessera/model/parameter_layout.h"

#include <algorithm>

#include <fmt/format.h>

#include "tessera/core/check.h"

namespace tessera {

ParameterLayout::ParameterLayout(const ModelSpec& spec, int64_t unit_alignment, ModelStage stage,
                                 TensorParallelPart tp)
    : unit_alignment_(std::max<int64_t>(1, unit_alignment)), stage_(stage), tp_(tp) {
  TESSERA_CHECK(tp.size >= 1 && tp.rank >= 0 && tp.rank < tp.size, "ParameterLayout: tp rank {} of {}", tp.rank, tp.size);
  const int64_t C = spec.n_embd, F = spec.ffn(), V = spec.vocab_size, T = spec.seq_len;
  chunks_ = stage.chunks;
  if (chunks_.empty()) chunks_.push_back({stage.first_layer, stage.end_layer < 0 ? spec.n_layer : stage.end_layer});
  block_of_layer_.assign(static_cast<size_t>(spec.n_layer), -1);
  int64_t previous_end = 0;
  for (const LayerRange& chunk : chunks_) {
    TESSERA_CHECK(chunk.first >= previous_end && chunk.first <= chunk.end && chunk.end <= spec.n_layer,
                  "ParameterLayout: stage layers [{}, {}) outside [{}, {}]", chunk.first, chunk.end, previous_end,
                  spec.n_layer);
    previous_end = chunk.end;
  }
  has_embeddings_ = stage.encoder || stage.head;
  if (has_embeddings_) {
    wte_ = add("wte", {V, C}, ParamKind::kEmbedding, /*split_dim=*/0);
    wpe_ = add("wpe", {T, C}, ParamKind::kEmbedding);
    close_unit("embeddings", 0);
  }
  constexpr int64_t kTensorsPerBlock = 12;
  for (const LayerRange& chunk : chunks_) {
    for (int64_t i = chunk.first; i < chunk.end; ++i) {
      const int64_t begin = total_;
      block_of_layer_[static_cast<size_t>(i)] = static_cast<int64_t>(blocks_.size());
      next_global_index_ = 2 + kTensorsPerBlock * i;
      const std::string p = fmt::format("h.{}.", i);
      BlockParams b;
      b.ln1_w = add(p + "ln1.weight", {C}, ParamKind::kNormWeight);
      b.ln1_b = add(p + "ln1.bias", {C}, ParamKind::kNormBias);
      b.qkv_w = add(p + "attn.qkv.weight", {3 * C, C}, ParamKind::kWeight, 0, /*blocks=*/3);
      b.qkv_b = add(p + "attn.qkv.bias", {3 * C}, ParamKind::kBias, 0, /*blocks=*/3);
      b.proj_w = add(p + "attn.proj.weight", {C, C}, ParamKind::kResidualWeight, 1);
      b.proj_b = add(p + "attn.proj.bias", {C}, ParamKind::kBias);
      b.ln2_w = add(p + "ln2.weight", {C}, ParamKind::kNormWeight);
      b.ln2_b = add(p + "ln2.bias", {C}, ParamKind::kNormBias);
      b.fc_w = add(p + "mlp.fc.weight", {F, C}, ParamKind::kWeight, 0);
      b.fc_b = add(p + "mlp.fc.bias", {F}, ParamKind::kBias, 0);
      b.fcproj_w = add(p + "mlp.proj.weight", {C, F}, ParamKind::kResidualWeight, 1);
      b.fcproj_b = add(p + "mlp.proj.bias", {C}, ParamKind::kBias);
      blocks_.push_back(b);
      close_unit(fmt::format("h.{}", i), begin);
    }
  }
  if (stage.head) {
    const int64_t begin = total_;
    next_global_index_ = 2 + kTensorsPerBlock * spec.n_layer;
    lnf_w_ = add("lnf.weight", {C}, ParamKind::kNormWeight);
    lnf_b_ = add("lnf.bias", {C}, ParamKind::kNormBias);
    close_unit("final_norm", begin);
  }
}

int64_t ParameterLayout::block_index(int64_t layer) const {
  const int64_t index = layer >= 0 && layer < static_cast<int64_t>(block_of_layer_.size())
                            ? block_of_layer_[static_cast<size_t>(layer)]
                            : -1;
  TESSERA_CHECK(index >= 0, "ParameterLayout: layer {} is not held by this stage", layer);
  return index;
}

void ParameterLayout::close_unit(std::string name, int64_t begin) {
  const int64_t used = total_ - begin;
  total_ = begin + (used + unit_alignment_ - 1) / unit_alignment_ * unit_alignment_;
  tensor_units_.resize(tensors_.size(), static_cast<int>(units_.size()));
  units_.push_back(ParamUnit{.name = std::move(name), .begin = begin, .end = total_, .used = used});
}

int64_t ParameterLayout::add(std::string name, std::vector<int64_t> shape, ParamKind kind, int split_dim,
                             int64_t blocks) {
  const bool split = split_dim >= 0 && tp_.size > 1;
  TensorSlice slice = split ? TensorSlice::split(shape, split_dim, tp_.rank, tp_.size, blocks) : TensorSlice::whole(shape);
  ParamTensor t{.name = std::move(name), .shape = slice.local_shape(), .offset = total_, .numel = 0, .kind = kind,
                .global_index = next_global_index_++, .slice = std::move(slice), .tp_replica = !split && tp_.size > 1};
  t.numel = 1;
  for (int64_t d : t.shape) t.numel *= d;
  total_ += t.numel;
  tensors_.push_back(std::move(t));
  return tensors_.back().offset;
}

}  // namespace tessera

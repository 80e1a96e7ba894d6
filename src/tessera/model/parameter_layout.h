// ParameterLayout: where each named GPT-2 parameter lives in the one flat parameter buffer (and, at the
// same offsets, in the flat gradient and optimizer-state buffers).
//
// Order: wte [V,C], wpe [T,C], then each block h.0 … h.{L-1} contiguously, then lnf. Keeping a block's
// tensors together means a pipeline stage's parameters are one contiguous range and ZeRO can shard
// the flat buffer by ranges. Per block (matmul weights are [out, in], as torch.nn.Linear):
//   h.i.ln1.weight [C]      h.i.ln1.bias [C]
//   h.i.attn.qkv.weight [3C, C]   h.i.attn.qkv.bias [3C]
//   h.i.attn.proj.weight [C, C]   h.i.attn.proj.bias [C]
//   h.i.ln2.weight [C]      h.i.ln2.bias [C]
//   h.i.mlp.fc.weight [F, C]      h.i.mlp.fc.bias [F]          (F = 4C)
//   h.i.mlp.proj.weight [C, F]    h.i.mlp.proj.bias [C]
// The LM head is tied: logits = lnf(x) · wte^T.
//
// Units: the parameters are grouped into units, the granularity at which data parallelism reduces,
// shards and gathers them (parallel/, as FSDP wraps each transformer block): unit 0 = the embeddings
// (wte, wpe), unit 1 + l = block l, the last unit = the final LayerNorm. Each unit is one contiguous range of
// the flat buffer; with unit_alignment A > 1 every unit's range is padded with zeros to a multiple of A
// floats (A = dp · 16 gives every rank an equal, 64-byte aligned piece of every unit). A = 1: no padding,
// the flat buffer holds exactly spec.num_params() floats.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/spec/model_spec.h"

namespace tessera {

enum class ParamKind {
  kEmbedding,       // wte, wpe: normal(0, 0.02)
  kWeight,          // matmul weight: normal(0, 0.02)
  kResidualWeight,  // attn.proj / mlp.proj weight: normal(0, 0.02/sqrt(2L)) (GPT-2 scaled init)
  kBias,            // zeros
  kNormWeight,      // ones
  kNormBias,        // zeros
};

struct ParamTensor {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // in floats, into the flat buffer
  int64_t numel = 0;
  ParamKind kind = ParamKind::kWeight;
  // Weight decay applies to matrices (embeddings and matmul weights), not to biases and norm gains.
  bool is_matrix() const { return shape.size() == 2; }
};

// One unit: floats [begin, end) of the flat buffer (end - begin is a multiple of the unit alignment; the
// tensors of the unit fill [begin, begin + used), the rest is padding).
struct ParamUnit {
  std::string name;  // "embeddings", "h.3", "final_norm"
  int64_t begin = 0, end = 0;
  int64_t used = 0;  // floats of the unit's tensors
  int64_t size() const { return end - begin; }
};

// Offsets of one block's tensors into the flat buffer.
struct BlockParams {
  int64_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcproj_w, fcproj_b;
};

class ParameterLayout {
 public:
  explicit ParameterLayout(const ModelSpec& spec, int64_t unit_alignment = 1);

  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  // Floats of the flat buffer: the parameters plus each unit's padding.
  int64_t total_numel() const { return total_; }
  const std::vector<ParamUnit>& units() const { return units_; }
  // Unit indices: embeddings, block l, final LayerNorm.
  static constexpr int kEmbeddingUnit = 0;
  static int block_unit(int64_t layer) { return static_cast<int>(layer) + 1; }
  int final_norm_unit() const { return static_cast<int>(units_.size()) - 1; }
  // The unit tensor `index` (into tensors()) belongs to.
  int unit_of_tensor(size_t index) const { return tensor_units_[index]; }
  int64_t wte() const { return wte_; }
  int64_t wpe() const { return wpe_; }
  int64_t lnf_w() const { return lnf_w_; }
  int64_t lnf_b() const { return lnf_b_; }
  const BlockParams& block(int64_t layer) const { return blocks_[static_cast<size_t>(layer)]; }

 private:
  int64_t add(std::string name, std::vector<int64_t> shape, ParamKind kind);
  // Closes the unit opened at `begin`: pads total_ to the alignment and records the unit.
  void close_unit(std::string name, int64_t begin);

  int64_t unit_alignment_ = 1;
  std::vector<ParamTensor> tensors_;
  std::vector<int> tensor_units_;  // per tensor, its unit
  std::vector<ParamUnit> units_;
  std::vector<BlockParams> blocks_;
  int64_t total_ = 0;
  int64_t wte_ = 0, wpe_ = 0, lnf_w_ = 0, lnf_b_ = 0;
};

}  // namespace tessera

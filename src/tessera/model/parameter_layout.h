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
// shards and gathers them (parallel/, as FSDP wraps each transformer block): the embeddings (wte, wpe), one
// unit per block, the final LayerNorm. Each unit is one contiguous range of the flat buffer; with
// unit_alignment A > 1 every unit's range is padded with zeros to a multiple of A floats (A = dp · 16 gives
// every rank an equal, 64-byte aligned piece of every unit). A = 1: no padding, the flat buffer holds exactly
// spec.num_params() floats.
//
// Pipeline stages (ModelStage): a stage's layout holds only its own tensors, in the same order — the
// embeddings unit if it runs the encoder (the first stage) or the tied LM head (the last stage), its blocks,
// and the final norm if it is the last stage. Tensor names stay global ("h.7.ln1.weight"), so checkpoints
// do not depend on the stage layout. With pp > 1 the last stage holds a replica of the embeddings unit for
// the tied head (Megatron's word-embedding copy on the last stage): it starts equal, its gradient is summed
// with the first stage's after every backward, and both update it identically; it is not saved
// (embeddings_replica()). Its wpe is carried along unused (zero gradient) so that both stages' embeddings
// units have the same size and shard pieces. An interleaved pipeline's stage holds several chunks of layers
// (ModelStage::chunks): their blocks follow each other in chunk order.
//
// Tensor parallelism (TensorParallelPart, Megatron-LM's split): tp rank r of t holds its slice of the split
// tensors — the local shape is in ParamTensor::shape, the global one and the offsets in ParamTensor::slice:
//   wte [V,C]               rows (vocab-parallel embedding and LM head)     → [V/t, C]
//   attn.qkv.weight [3C,C]  rows of each of q, k, v (the rank's heads)       → [3C/t, C]; qkv.bias [3C] alike
//   attn.proj.weight [C,C]  columns (row-parallel: its heads' inputs)        → [C, C/t]
//   mlp.fc.weight [F,C]     rows (column-parallel)                           → [F/t, C];  fc.bias [F] alike
//   mlp.proj.weight [C,F]   columns (row-parallel)                           → [C, F/t]
// Everything else (wpe, LayerNorms, the row-parallel biases, lnf) is a replica on every tp rank
// (ParamTensor::tp_replica): tp rank 0 saves it and counts it in the gradient norm.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/tensor_slice.h"
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
  // Index of the tensor in the whole model's layout (wte 0, wpe 1, block l's 2 + 12·l + j, lnf last): what
  // seeds its initialisation, so every stage layout initialises a tensor to the same values.
  int64_t global_index = 0;
  // Where the local tensor sits in the global one (the whole tensor unless tensor parallelism splits it).
  TensorSlice slice;
  // Every tp rank holds the same copy (tp > 1 and not split).
  bool tp_replica = false;
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

// Layers [first, end).
struct LayerRange {
  int64_t first = 0, end = 0;
  int64_t size() const { return end - first; }
  bool operator==(const LayerRange&) const = default;
};

// The part of the model a pipeline stage holds (whole(): the whole model, pp = 1).
struct ModelStage {
  int64_t first_layer = 0;
  int64_t end_layer = -1;   // -1: spec.n_layer
  bool encoder = true;      // runs the token and position embeddings (the first stage; before chunk 0)
  bool head = true;         // runs the final norm, the tied LM head and the loss (the last stage; after the last chunk)
  // An interleaved pipeline's rank holds several chunks of layers, virtual stages r, r + pp, … (Megatron's
  // interleaving), run one at a time; then first_layer/end_layer are ignored. Empty: one chunk [first_layer, end_layer).
  std::vector<LayerRange> chunks;
  static ModelStage whole() { return {}; }
  bool operator==(const ModelStage&) const = default;
};

// This rank's place on the tensor-parallel axis (size 1: no tensor parallelism).
struct TensorParallelPart {
  int64_t rank = 0;
  int64_t size = 1;
  bool operator==(const TensorParallelPart&) const = default;
};

// Offsets of one block's tensors into the flat buffer.
struct BlockParams {
  int64_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcproj_w, fcproj_b;
};

class ParameterLayout {
 public:
  explicit ParameterLayout(const ModelSpec& spec, int64_t unit_alignment = 1, ModelStage stage = ModelStage::whole(),
                           TensorParallelPart tp = {});

  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  // Floats of the flat buffer: the parameters plus each unit's padding.
  int64_t total_numel() const { return total_; }
  const std::vector<ParamUnit>& units() const { return units_; }
  // Unit indices (−1 where the stage has no such unit): the embeddings, block `layer` (a global layer index
  // in [first_layer(), end_layer())), the final LayerNorm.
  int embedding_unit() const { return has_embeddings_ ? 0 : -1; }
  int block_unit(int64_t layer) const { return (has_embeddings_ ? 1 : 0) + static_cast<int>(block_index(layer)); }
  int final_norm_unit() const { return stage_.head ? static_cast<int>(units_.size()) - 1 : -1; }
  // The unit tensor `index` (into tensors()) belongs to.
  int unit_of_tensor(size_t index) const { return tensor_units_[index]; }
  const ModelStage& stage() const { return stage_; }
  const TensorParallelPart& tensor_parallel() const { return tp_; }
  // The chunks of layers held, in order (one unless the pipeline interleaves); the first layer held and one past
  // the last (with several chunks not every layer between is held).
  const std::vector<LayerRange>& chunks() const { return chunks_; }
  int64_t first_layer() const { return chunks_.front().first; }
  int64_t end_layer() const { return chunks_.back().end; }
  int64_t num_layers() const { return static_cast<int64_t>(blocks_.size()); }
  // The embeddings unit is the last stage's replica of the first stage's (pp > 1; see above).
  bool embeddings_replica() const { return has_embeddings_ && !stage_.encoder; }
  // Offsets; wte and wpe need the embeddings unit, lnf the head (checked by the callers' stage).
  int64_t wte() const { return wte_; }
  int64_t wpe() const { return wpe_; }
  int64_t lnf_w() const { return lnf_w_; }
  int64_t lnf_b() const { return lnf_b_; }
  const BlockParams& block(int64_t layer) const { return blocks_[static_cast<size_t>(block_index(layer))]; }

 private:
  // Adds a tensor of global `shape`, split along `split_dim` (-1: a replica) into tp parts of each of
  // `blocks` blocks; returns its offset.
  int64_t add(std::string name, std::vector<int64_t> shape, ParamKind kind, int split_dim = -1, int64_t blocks = 1);
  // Closes the unit opened at `begin`: pads total_ to the alignment and records the unit.
  void close_unit(std::string name, int64_t begin);

  int64_t unit_alignment_ = 1;
  ModelStage stage_;
  TensorParallelPart tp_;
  // Position of `layer` among the held blocks (checked).
  int64_t block_index(int64_t layer) const;

  std::vector<LayerRange> chunks_;
  std::vector<int64_t> block_of_layer_;  // per global layer: its position in blocks_, −1 if not held
  bool has_embeddings_ = true;
  std::vector<ParamTensor> tensors_;
  std::vector<int> tensor_units_;  // per tensor, its unit
  std::vector<ParamUnit> units_;
  std::vector<BlockParams> blocks_;
  int64_t total_ = 0;
  int64_t next_global_index_ = 0;  // of the next add()
  int64_t wte_ = 0, wpe_ = 0, lnf_w_ = 0, lnf_b_ = 0;
};

}  // namespace tessera

// GptDecoder: incremental inference with a KV cache, for sampling text from a trained GptModel.
//
// The decoder holds `slots` independent sequences, each with its own KV cache ([L][T][C] keys and values)
// and position. Feeding token t of a slot at position pos runs every block on one row: its key and value
// are appended to that slot's cache, and its query attends to the slot's cached positions 0..pos. Cost per
// token is O(L·(C² + pos·C)) instead of re-running the whole prefix.
//
// One feed() call runs many rows together — a whole prompt of one slot, one new token of each of several
// slots (batched serving), or both — so the matmuls see all rows at once ([R, C] · W^T): the weights are
// read once per call instead of once per token. Each row's result does not depend on which other rows
// share its call except through the matmul kernels' blocking for R (which may change the last ulp); the
// same sequence of calls gives the same bits.
//
// The decoder reads the parameters through a pointer it does not own: the model must outlive it and not
// change while decoding.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tessera/core/aligned_buffer.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/model/parameter_layout.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

// The tokens one feed() call runs for one slot, at that slot's next positions, in order.
struct DecoderInput {
  int64_t slot = 0;
  std::span<const int32_t> tokens;
};

class GptDecoder {
 public:
  // `slots` sequences; one feed() call runs at most `max_rows` tokens in all (0 = spec.seq_len + slots - 1:
  // a full-context prompt plus one token of every other slot).
  GptDecoder(const ModelSpec& spec, const float* params, KernelBackend& kernels, int64_t slots = 1,
             int64_t max_rows = 0);

  // Runs the inputs (distinct slots, each with ≥ 1 token) and returns logits [inputs.size(), V]: row i is
  // the distribution of the token after inputs[i]'s last one (valid until the next call). Fails with
  // InvalidArgument, changing nothing, when a slot is out of range or repeated, a token is outside
  // [0, V), a slot's context (spec.seq_len) would overflow, or the rows exceed max_rows.
  StatusOr<const float*> feed(std::span<const DecoderInput> inputs);
  // One token of slot 0: its logits [V].
  StatusOr<const float*> feed(int32_t token);

  int64_t position(int64_t slot = 0) const { return positions_[static_cast<size_t>(slot)]; }
  void reset(int64_t slot = 0) { positions_[static_cast<size_t>(slot)] = 0; }
  int64_t slots() const { return static_cast<int64_t>(positions_.size()); }
  int64_t max_rows() const { return max_rows_; }
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
  ParameterLayout layout_;
  const float* params_;
  KernelBackend& kernels_;
  int64_t max_rows_;
  std::vector<int64_t> positions_;                // [slots]: tokens in each slot's cache
  AlignedBuffer<float> key_cache_, value_cache_;  // [slots, L, T, C] each
  // Row scratch for R = max_rows: x, ln, atty, tmp [R, C]; qkv [R, 3C]; fch [R, F]; mean, rstd [R];
  // scores [T]; last [slots, C] (each input's last row, gathered for the final LayerNorm); logits [slots, V].
  AlignedBuffer<float> x_, ln_, qkv_, atty_, tmp_, fch_, mean_, rstd_, scores_, last_, logits_;
  std::vector<int64_t> row_slot_, row_pos_;  // [R]: each row's slot and position in that slot
};

}  // namespace tessera

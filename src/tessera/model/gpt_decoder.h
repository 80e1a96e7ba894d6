// GptDecoder: incremental inference with a KV cache, for sampling text from a trained GptModel.
//
// Feeding token t at position pos runs every block on one row: its key and value are appended to the
// cache ([L][T][C] each), and its query attends to cached positions 0..pos. Cost per token is
// O(L·(C² + pos·C)) instead of re-running the whole prefix.
// The decoder reads the parameters through a pointer it does not own: the model must outlive it and not
// change while decoding.
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/core/aligned_buffer.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/model/parameter_layout.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

class GptDecoder {
 public:
  GptDecoder(const ModelSpec& spec, const float* params, KernelBackend& kernels);

  // Runs token `token` at the next position; returns the logits [V] for the token after it (valid until
  // the next call). Fails with InvalidArgument when the context (spec.seq_len) is full.
  StatusOr<const float*> feed(int32_t token);
  int64_t position() const { return position_; }
  void reset() { position_ = 0; }

 private:
  ModelSpec spec_;
  ParameterLayout layout_;
  const float* params_;
  KernelBackend& kernels_;
  int64_t position_ = 0;
  AlignedBuffer<float> key_cache_, value_cache_;  // [L, T, C] each
  // One-row scratch: x, ln [C], qkv [3C], atty [C], tmp [C], fch [F], scores [T], logits [V].
  AlignedBuffer<float> x_, ln_, qkv_, atty_, tmp_, fch_, scores_, logits_;
  AlignedBuffer<float> mean_, rstd_;  // [1]
};

}  // namespace tessera

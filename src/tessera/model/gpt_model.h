// GptModel: a GPT-2 decoder (learned positions, pre-LayerNorm, causal multi-head attention, GELU MLP,
// tied embeddings) with explicit forward and backward per layer, in the spirit of llm.c.
//
// Ownership: the model owns one flat parameter buffer and one flat gradient buffer (same layout,
// ParameterLayout), and the activations of one micro-batch [B, T]. Kernels come from a KernelBackend
// the caller keeps alive. Not thread-safe; the kernels parallelise inside.
//
// One micro-batch:
//   float loss = model.forward(inputs, targets);   // mean cross-entropy over B·T tokens
//   model.backward(loss_scale);                     // grads += loss_scale · d(mean loss)/d(params)
// With gradient accumulation over M micro-batches, loss_scale = 1/M gives the gradient of the mean.
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/core/aligned_buffer.h"
#include "tessera/core/stateful.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/model/parameter_layout.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

class GptModel final : public Stateful {
 public:
  // Allocates parameters, gradients and the activations of a [batch, seq] micro-batch
  // (seq ≤ spec.seq_len). Parameters start at zero; call init_parameters.
  GptModel(const ModelSpec& spec, KernelBackend& kernels, int64_t batch, int64_t seq);

  // GPT-2 initialisation, tensor by tensor from RngStream(seed, kInit, tensor index): the same seed
  // gives the same parameters whatever the batch shape or backend.
  void init_parameters(uint64_t seed);

  // inputs, targets: [B, T] token ids in [0, V). Returns the mean loss; keeps activations for backward.
  float forward(const int32_t* inputs, const int32_t* targets);
  // Accumulates loss_scale · ∂(mean loss)/∂params into grads(); uses the last forward's activations.
  void backward(float loss_scale);
  void zero_grad();

  const ModelSpec& spec() const { return spec_; }
  const ParameterLayout& layout() const { return layout_; }
  int64_t batch() const { return B_; }
  int64_t seq() const { return T_; }
  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  float* grads() { return grads_.data(); }
  const float* grads() const { return grads_.data(); }
  int64_t num_params() const { return layout_.total_numel(); }
  // [B, T, V] logits of the last forward (before backward overwrites them with their gradient).
  const float* logits() const { return logits_.data(); }
  // Per-token losses [B, T] of the last forward.
  const float* losses() const { return losses_.data(); }
  // Bytes held by activations and scratch (for memory reports).
  int64_t activation_bytes() const;
  // Bytes a GptModel(spec, batch, seq) would allocate, parameters + gradients + activations, computed in
  // double so that absurd shapes give a huge number instead of overflowing (checked before allocating).
  static double estimate_bytes(const ModelSpec& spec, int64_t batch, int64_t seq);

  // "model.<tensor name>" for every parameter, full shape.
  void save_state(StateWriter& writer) const override;
  Status load_state(StateReader& reader) override;

 private:
  // Saved activations of one block, each [B, T, ·] unless stated.
  struct BlockActivations {
    AlignedBuffer<float> ln1, ln1_mean, ln1_rstd;  // [B,T,C], [B,T], [B,T]
    AlignedBuffer<float> qkv;                      // [B,T,3C]
    AlignedBuffer<float> att_lse;                  // [B,NH,T] attention log-sum-exp (no [T,T] is kept)
    AlignedBuffer<float> atty;                     // [B,T,C] attention output before proj
    AlignedBuffer<float> residual2;                // [B,T,C] input + attention branch
    AlignedBuffer<float> ln2, ln2_mean, ln2_rstd;  // [B,T,C], [B,T], [B,T]
    AlignedBuffer<float> fch, fch_gelu;            // [B,T,F] MLP pre- and post-activation
    AlignedBuffer<float> residual3;                // [B,T,C] block output
  };

  void block_forward(int64_t layer, const float* input);
  // dresidual: [B,T,C] gradient w.r.t. the block output on entry, w.r.t. its input on exit.
  void block_backward(int64_t layer, const float* input, float* dresidual);

  ModelSpec spec_;
  KernelBackend& kernels_;
  ParameterLayout layout_;
  int64_t B_, T_;
  AlignedBuffer<float> params_, grads_;
  AlignedBuffer<float> encoded_;  // [B,T,C] token + position embeddings (block 0's input)
  std::vector<BlockActivations> blocks_;
  AlignedBuffer<float> lnf_, lnf_mean_, lnf_rstd_;  // [B,T,C], [B,T], [B,T]
  AlignedBuffer<float> logits_;                     // [B,T,V]; dlogits in place during backward
  AlignedBuffer<float> losses_, lse_;               // [B,T]
  std::vector<int32_t> inputs_, targets_;           // [B,T] of the last forward
  // Backward scratch, reused by every block.
  AlignedBuffer<float> dresidual_, dln_, datty_, dqkv_, dfch_;  // [B,T,C] ×3, [B,T,3C], [B,T,F]
};

}  // namespace tessera

// GptModel: a GPT-2 decoder (learned positions, pre-LayerNorm, causal multi-head attention, GELU MLP,
// tied embeddings) with explicit forward and backward per layer, in the spirit of llm.c.
//
// Ownership: the model owns one flat parameter buffer and one flat gradient buffer (same layout,
// ParameterLayout), and the activations of one micro-batch [B, T]. Kernels come from a KernelBackend
// the caller keeps alive. Not thread-safe; the kernels parallelise inside.
//
// Parallelism stays outside: an engine may own the flat buffers (FlatStorage) and follow the model unit by
// unit through UnitHooks (unit_hooks.h) to reduce, shard and gather them.
//
// Pipeline stages (ModelOptions::stage, parameter_layout.h): a model may hold only layers [first, end) — with
// the embeddings if it is the first stage, the final norm, LM head and loss if it is the last — and keep the
// activations of several micro-batches at once (ModelOptions::slots), as a pipeline schedule runs forwards
// ahead of backwards:
//   forward_stage(slot, tokens | input activation [B,T,C], targets)  → stage_output(slot) [B,T,C] (or the loss)
//   backward_stage(slot, output gradient [B,T,C] | none on the last stage, input gradient [B,T,C] | none on the first)
// forward()/backward() are the whole-model case on slot 0. An interleaved pipeline's stage holds several chunks of
// layers (ModelStage::chunks), each with its own slots; a slot runs its chunk, the encoder before the first chunk
// and the head after the last.
//
// One micro-batch:
//   float loss = model.forward(inputs, targets);   // mean cross-entropy over B·T tokens
//   model.backward(loss_scale);                     // grads += loss_scale · d(mean loss)/d(params)
// With gradient accumulation over M micro-batches, loss_scale = 1/M gives the gradient of the mean.
//
// LM head and loss, fused and chunked over tokens: [B·T, V] logits never exist at once. A training
// forward (Pass::kTrain) takes head_chunk_rows tokens at a time: logits = lnf·wteᵀ, cross-entropy, its
// gradient in place (scale 1/(B·T)), then dlnf = dlogits·wte and dwte_head += dlogitsᵀ·lnf, so backward
// only scales those two by loss_scale. Pass::kEval stops after the losses (validation).
//
// Activation recomputation (ModelOptions::recompute, parallel.recompute in configs):
//   kNone       every block keeps all its activations;
//   kSelective  the attention core's output and softmax statistics and the GELU output are not kept per layer: backward
//               recomputes them (one flash-attention forward and one GELU per layer, no matmul);
//   kFull       only each block's output (the residual stream) is kept; backward reruns the block's
//               forward up to the GELU (everything but the last matmul) into one shared set of buffers.
// The kernels are deterministic, so losses and gradients are bit-identical in all three modes.
//
// Tensor parallelism (ModelOptions::tensor_parallel, Megatron-LM): rank r of t holds its slice of the split
// tensors (parameter_layout.h) — NH/t heads, F/t MLP columns, V/t vocabulary rows — and the regions of
// tensor_regions.h join the slices: per block one all-reduce after attn.proj and one after mlp.proj in
// forward, one after each of qkv's and mlp.fc's input gradients in backward (with sequence parallelism the
// all-gather / reduce-scatter pairs instead, LayerNorms and residuals on N/t rows). The embedding looks up
// only its vocabulary rows and sums over the group; the LM head computes its [rows, V/t] logits, exchanges
// each row's (log-sum-exp, target logit) with the group and never gathers the logits. Row-parallel biases
// are added by tp rank 0 only (once in the sum). Losses equal the single-rank model's to rounding.
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/core/aligned_buffer.h"
#include "tessera/core/stateful.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/model/parameter_layout.h"
#include "tessera/model/tensor_regions.h"
#include "tessera/model/unit_hooks.h"
#include "tessera/spec/model_spec.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera {

struct ModelOptions {
  Recompute recompute = Recompute::kNone;
  // Tokens per LM-head chunk; 0 = as many as keep the chunk's logits within kHeadChunkBytes.
  int64_t head_chunk_rows = 0;
  static constexpr int64_t kHeadChunkBytes = int64_t{64} << 20;
  // Tokens per group of LM-head chunks whose backward products the kernels run at once (KernelBackend::
  // head_loss_backward, HeadGroup), a whole number of chunks; 0 = as many as keep the dlogits the kernels hold
  // (KernelBackend::head_group_dlogit_bytes per logit) within kHeadGroupBytes. Kernels that hold none get groups of
  // one chunk.
  int64_t head_group_rows = 0;
  static constexpr int64_t kHeadGroupBytes = int64_t{128} << 20;
  // Pads every parameter unit to a multiple of this many floats (ParameterLayout; parallel/ sets dp·16).
  int64_t unit_alignment = 1;
  // Declare the parameters to the kernels as resident matmul weights once per update (bf16 copies). Off
  // when parameters come and go unit by unit (ZeRO-3), where a whole-buffer copy would read released units.
  bool resident_weights = true;
  // The layers (and ends) of the model this object runs: the whole model, or one pipeline stage.
  ModelStage stage = ModelStage::whole();
  // Micro-batches whose activations are kept at once (between their forward and backward), per chunk of the
  // stage: 1 without a pipeline; a schedule's peak_in_flight with one.
  int64_t slots = 1;
  // Backward in two passes per micro-batch, as zero-bubble schedules run it: backward_stage_input (the
  // activation gradients, what the previous stage waits for) now, backward_stage_weight (the four matmul weight
  // gradients per layer) later. Each slot then keeps every layer's matmul output gradients in between,
  // N·(2C + 3C' + F') floats per layer (C' = C/t, F' = F/t under tensor parallelism t). Needs recompute none
  // (the weight pass reads the kept activations).
  bool split_backward = false;
  // Tensor parallelism: this rank's part, its group (outliving the model; null only when size is 1), and
  // sequence parallelism (parallel.sequence_parallel: per-token work on B·T/t rows, see tensor_regions.h).
  TensorParallelPart tensor_parallel;
  TensorParallelGroup* tensor_group = nullptr;
  bool sequence_parallel = false;
};

// Flat parameter and gradient buffers the model uses instead of allocating its own (parallel/ owns them
// when it shards or reduces them); each holds ParameterLayout(spec, unit_alignment).total_numel() floats and
// outlives the model. Null: the model allocates both.
struct FlatStorage {
  float* params = nullptr;
  float* grads = nullptr;
};

class GptModel final : public Stateful {
 public:
  // Allocates parameters, gradients and the activations of a [batch, seq] micro-batch
  // (seq ≤ spec.seq_len). Parameters start at zero; call init_parameters.
  GptModel(const ModelSpec& spec, KernelBackend& kernels, int64_t batch, int64_t seq,
           const ModelOptions& options = {}, FlatStorage storage = {});
  ~GptModel() override;

  // GPT-2 initialisation, tensor by tensor from RngStream(seed, kInit, tensor index): the same seed
  // gives the same parameters whatever the batch shape or backend.
  void init_parameters(uint64_t seed);
  // The same values for the tensors of one unit only (an engine that shards parameters initialises unit
  // by unit, so the whole model never exists at once).
  void init_unit_parameters(uint64_t seed, int unit);
  // Calls hooks around every unit from now on (null: none). The hooks outlive the model or are reset.
  void set_unit_hooks(UnitHooks* hooks) { hooks_ = hooks; }

  enum class Pass { kTrain, kEval };
  // inputs, targets: [B, T] token ids in [0, V). Returns the mean loss. kTrain keeps what backward needs
  // (and already runs the LM head's backward, see above); kEval only computes the losses. Whole model, slot 0.
  float forward(const int32_t* inputs, const int32_t* targets, Pass pass = Pass::kTrain);
  // Accumulates loss_scale · ∂(mean loss)/∂params into grads(); uses the last forward, which must have
  // been a kTrain pass (checked).
  void backward(float loss_scale);
  void zero_grad();

  // One micro-batch through this stage, its activations kept in `slot` (< slots). The first stage reads
  // `inputs` [B,T] token ids, the others `input` [B,T,C] (copied unless it is stage_input(slot)); the last
  // stage reads `targets` [B,T] and returns the mean loss (others return 0 and leave stage_output(slot)).
  float forward_stage(int64_t slot, const int32_t* inputs, const float* input, const int32_t* targets,
                      Pass pass = Pass::kTrain);
  // Backward of the micro-batch in `slot` (a kTrain forward, checked): the last stage starts from its loss,
  // the others from output_grad [B,T,C] = ∂loss/∂stage_output. Accumulates loss_scale-scaled gradients;
  // writes ∂loss/∂input into input_grad [B,T,C] unless this is the first stage. Every micro-batch of a step
  // must use the same loss_scale (the LM head's wte gradient of all pending forwards is applied at once).
  void backward_stage(int64_t slot, const float* output_grad, float* input_grad, float loss_scale);
  // ModelOptions::split_backward: backward_stage_input does what backward_stage does except the matmul weight
  // gradients (it keeps their output gradients); backward_stage_weight(slot) adds those, after which the
  // blocks' gradients are complete (UnitHooks::gradients_ready fires for each block then).
  void backward_stage_input(int64_t slot, const float* output_grad, float* input_grad, float loss_scale);
  void backward_stage_weight(int64_t slot);
  // [R,C] the stage's output of the micro-batch in `slot` (a stage without the head), valid until the slot's
  // next forward. R = activation_rows(): B·T, or this rank's B·T/t rows under sequence parallelism.
  const float* stage_output(int64_t slot) const;
  // [R,C] where a stage without the encoder keeps its input: receive into it and pass it to forward_stage.
  float* stage_input(int64_t slot);
  int64_t activation_rows() const { return regions_.rows(); }
  // Floats of a stage's input or output activation (and of their gradients): R·C.
  int64_t stage_activation_floats() const { return regions_.rows() * spec_.n_embd; }
  const TensorRegions& tensor_regions() const { return regions_; }
  // Slots in all: ModelOptions::slots per chunk, chunk c's are [c·slots, (c+1)·slots) (an interleaved stage runs
  // several chunks of layers, ModelStage::chunks; forward_stage and backward_stage run the slot's chunk).
  int64_t slots() const { return static_cast<int64_t>(slots_.size()); }
  int64_t num_chunks() const { return static_cast<int64_t>(layout_.chunks().size()); }
  const ModelStage& stage() const { return options_.stage; }
  bool split_backward() const { return options_.split_backward; }

  const ModelSpec& spec() const { return spec_; }
  const ParameterLayout& layout() const { return layout_; }
  int64_t batch() const { return B_; }
  int64_t seq() const { return T_; }
  // Writable parameters. Taking them marks the bf16 weight copies stale: the next forward declares the
  // parameters to the kernels again (KernelBackend::set_matmul_weights), once per optimizer update.
  float* params() {
    weights_declared_ = false;
    return params_;
  }
  const float* params() const { return params_; }
  float* grads() { return grads_; }
  const float* grads() const { return grads_; }
  // Floats of the flat buffers: the parameters plus unit padding (= spec().num_params() when
  // unit_alignment is 1).
  int64_t num_params() const { return layout_.total_numel(); }
  // out[B, T, V] = the logits of the last forward (tensor parallelism: not available, checked), recomputed from the final LayerNorm's output (the
  // model never holds them all). For tests and tools; costs one head matmul.
  void compute_logits(float* out);
  int64_t head_chunk_rows() const { return head_rows_; }
  int64_t head_group_rows() const { return head_group_rows_; }
  Recompute recompute() const { return options_.recompute; }
  // Per-token losses [B, T] of the last forward in slot 0 (every tp rank holds all of them).
  const float* losses() const { return slots_[0].losses.data(); }
  // Bytes held by activations and scratch (for memory reports).
  int64_t activation_bytes() const;
  // Bytes a GptModel(spec, batch, seq, options) would allocate, parameters + gradients + activations,
  // computed in double so that absurd shapes give a huge number instead of overflowing (checked before
  // allocating).
  static double estimate_bytes(const ModelSpec& spec, int64_t batch, int64_t seq, const ModelOptions& options = {});
  // The same bytes by kind (estimate_bytes is their sum): parameters and gradients (fp32), activations
  // (what the blocks keep per layer plus the shared recomputed set), workspace (LM-head chunk and its wte
  // gradient, embeddings, final LayerNorm, losses, backward scratch).
  struct Bytes {
    double parameters, gradients, activations, workspace;
  };
  static Bytes allocation_bytes(const ModelSpec& spec, int64_t batch, int64_t seq, const ModelOptions& options = {});
  // Tokens per LM-head chunk for N = batch·seq tokens.
  static int64_t resolve_head_chunk_rows(const ModelSpec& spec, int64_t tokens, const ModelOptions& options);
  // Tokens per group of head chunks, for kernels that hold dlogit_bytes per dlogit of a group (0: none).
  static int64_t resolve_head_group_rows(const ModelSpec& spec, int64_t tokens, const ModelOptions& options,
                                         int64_t dlogit_bytes);

  // "model.<tensor name>" for every parameter, global shape: the whole tensor, or this tp rank's slice as a box
  // of it (replicas from tp rank 0 only).
  void save_state(StateWriter& writer) const override;
  Status load_state(StateReader& reader) override;

 private:
  // Activations of one block, each [B, T, ·] unless stated. Per layer only the buffers the recompute
  // mode keeps are allocated; the others live once in recomputed_ and are shared by all layers.
  // Under tensor parallelism t: R = rows of the residual stream (N, or N/t with sequence parallelism), C' = C/t,
  // NH' = NH/t and F' = F/t are this rank's attention width, heads and MLP columns.
  struct BlockActivations {
    AlignedBuffer<float> ln1, ln1_mean, ln1_rstd;  // [R,C], [R], [R]
    AlignedBuffer<float> ln1_full, ln2_full;       // [N,C] the all-gathered ln1, ln2 (sequence parallelism only)
    AlignedBuffer<float> qkv;                      // [N,3C']
    AlignedBuffer<float> att_stats;                // [B,NH',T,2] attention row max and sum (no [T,T] is kept)
    AlignedBuffer<float> atty;                     // [N,C'] attention output before proj
    AlignedBuffer<float> residual2;                // [R,C] input + attention branch
    AlignedBuffer<float> ln2, ln2_mean, ln2_rstd;  // [R,C], [R], [R]
    AlignedBuffer<float> fch, fch_gelu;            // [N,F'] MLP pre- and post-activation
    AlignedBuffer<float> residual3;                // [R,C] block output (always per layer)
    int64_t floats() const;
  };
  // Where layer l's activations are: its own buffer or the shared recomputed_ one, field by field.
  // ln1_full / ln2_full are ln1 / ln2 themselves without sequence parallelism.
  struct BlockView {
    float *ln1, *ln1_mean, *ln1_rstd, *ln1_full, *ln2_full, *qkv, *att_stats, *atty, *residual2, *ln2, *ln2_mean, *ln2_rstd, *fch,
        *fch_gelu, *residual3;
  };
  // A split backward's matmul output gradients of one layer, from its input pass to its weight pass.
  struct DeferredGrads {
    AlignedBuffer<float> fcproj_out, fc_out, proj_out, qkv_out;  // [N,C], [N,F'], [N,C], [N,3C']
  };
  // What one micro-batch keeps between its forward and backward on this stage.
  struct MicroBatchState {
    std::vector<BlockActivations> blocks;              // per layer of the stage
    std::vector<DeferredGrads> deferred;               // per layer, with ModelOptions::split_backward
    AlignedBuffer<float> input;                        // [R,C] embeddings output (first stage) or received input
    AlignedBuffer<float> lnf, lnf_mean, lnf_rstd;      // [R,C], [R], [R] (last stage)
    AlignedBuffer<float> own_dlnf;                     // [R,C] with several slots (else dlnf is dln_)
    float* dlnf = nullptr;                             // ∂loss/∂lnf at loss scale 1 from forward to backward
    AlignedBuffer<float> losses, lse;                  // [B,T] (last stage)
    std::vector<int32_t> inputs, targets;              // [B,T]
    int64_t chunk = 0;                                 // the chunk of layers this slot runs
    bool backward_ready = false;                       // a kTrain forward waits for its backward
    bool weight_pending = false;                       // a split backward waits for its weight pass
  };
  // Chunk c's layers; whether the encoder runs before it (the first chunk of the first stage) and the head after
  // it (the last chunk of the last stage).
  const LayerRange& chunk_layers(int64_t chunk) const { return layout_.chunks()[static_cast<size_t>(chunk)]; }
  bool chunk_encoder(int64_t chunk) const { return options_.stage.encoder && chunk == 0; }
  bool chunk_head(int64_t chunk) const { return options_.stage.head && chunk == num_chunks() - 1; }
  // Where layer l's activations of `slot` are: its own buffer or the shared recomputed_ one, field by field.
  BlockView view(int64_t slot, int64_t layer);
  MicroBatchState& slot_state(int64_t slot);
  // The input of block `layer` in `state`: the stage input for the stage's first layer, else the previous
  // block's output.
  const float* block_input(const MicroBatchState& state, int64_t layer) const;

  // Runs block `layer` on input into a; through_output = false stops after the GELU (what backward needs).
  void block_forward(int64_t layer, const float* input, const BlockView& a, bool through_output);
  // dresidual: [B,T,C] gradient w.r.t. the block output on entry, w.r.t. its input on exit. With `defer`, the
  // matmul weight gradients are left for block_weight_backward and their output gradients kept in `defer`.
  void block_backward(int64_t layer, const float* input, const BlockView& a, float* dresidual,
                      DeferredGrads* defer = nullptr);
  void block_weight_backward(int64_t layer, const BlockView& a, const DeferredGrads& deferred);
  // backward_stage (split = false) or backward_stage_input (split = true).
  void backward_pass(int64_t slot, const float* output_grad, float* input_grad, float loss_scale, bool split);
  // LM head + loss over rows [n0, n0 + rows) of the final norm's whole output x[N,C] (see the top of the file);
  // the training pass writes the partial ∂loss/∂x rows into dx[N,C].
  void head_chunk(MicroBatchState& state, const float* x, float* dx, int64_t n0, int64_t rows, Pass pass);
  // The vocab-parallel loss of rows [n0, n0 + rows) from this rank's logits_ [rows, V/t]: each row's local
  // log-sum-exp and target logit exchanged with the group, combined in rank order (identical on every rank).
  void vocab_parallel_loss(MicroBatchState& state, int64_t n0, int64_t rows);
  // The embeddings under tensor parallelism: this rank's vocabulary rows looked up, summed over the group into
  // out[R,C], the positions added; and the backward of both.
  void parallel_encoder_forward(const int32_t* inputs, float* out);
  void parallel_encoder_backward(const float* dout, const int32_t* inputs);
  void before(int unit, ModelPhase phase) {
    if (hooks_ != nullptr) hooks_->before(unit, phase);
  }
  void after(int unit, ModelPhase phase) {
    if (hooks_ != nullptr) hooks_->after(unit, phase);
  }

  ModelSpec spec_;
  KernelBackend& kernels_;
  ModelOptions options_;
  ParameterLayout layout_;
  int64_t B_, T_;
  TensorRegions regions_;
  int64_t Cl_, NHl_, Fl_, Vl_;  // this rank's attention width, heads, MLP columns, vocabulary rows (C/t, …)
  int64_t head_rows_;        // tokens per LM-head chunk
  int64_t head_group_rows_;  // tokens per group of chunks (a multiple of head_rows_, or all N)
  AlignedBuffer<float> own_params_, own_grads_;  // empty when FlatStorage was given
  float* params_ = nullptr;                      // [layout_.total_numel()] own_params_ or the caller's
  float* grads_ = nullptr;                       // [layout_.total_numel()] own_grads_ or the caller's
  UnitHooks* hooks_ = nullptr;
  std::vector<MicroBatchState> slots_;              // [options.slots]
  BlockActivations recomputed_;                     // shared buffers of the fields layers do not keep
  AlignedBuffer<float> logits_;                     // [head_rows, V] one chunk; dlogits in place
  // [V,C] the LM head's wte gradient at loss scale 1, summed over the kTrain forwards whose backward has not
  // applied it yet (head_forwards_pending_ of them; the first backward after them adds it to grads).
  AlignedBuffer<float> dwte_head_;
  int64_t head_forwards_pending_ = 0;
  bool weights_declared_ = false;                   // set_matmul_weights has the current parameters
  // Backward scratch, reused by every block and slot. With one slot dln_ also holds dlnf (scale 1) between
  // forward and backward.
  AlignedBuffer<float> dresidual_, dln_, datty_, dqkv_, dfch_;  // [R,C], [N,C], [N,C'], [N,3C'], [N,F']
  // Tensor parallelism: the whole [N,C] activation a region gathers or a row-parallel matmul sums (sequence
  // parallelism; also the whole final-norm gradient), the head's whole final-norm output (sequence parallelism),
  // the head chunk's local targets (−1: not in this rank's vocabulary) and its (lse, target logit) exchange
  // [t][2·rows], and the replicated parameters' gradient contributions before they are summed over the group.
  AlignedBuffer<float> full_, lnf_full_;
  std::vector<int32_t> local_targets_;
  AlignedBuffer<float> loss_exchange_, replica_grads_;
};

}  // namespace tessera

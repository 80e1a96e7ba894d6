// Tensor-parallel regions (Megatron-LM's f and g), written once as conjugate forward/backward pairs so that the
// model's forward and backward cannot disagree about which collective undoes which.
//
// A transformer block under tensor parallelism t: the column-parallel matmuls (qkv, mlp.fc) need the whole
// activation on every rank and produce their slice of the features; the row-parallel ones (attn.proj, mlp.proj)
// take that slice and produce a partial sum of the whole output. Between them sits a region:
//
//                  forward                             backward
//   enter (f)      identity          | all-gather      all-reduce      | reduce-scatter
//   leave (g)      all-reduce        | reduce-scatter  identity        | all-gather
//                  (tensor parallel)   (+ sequence)    (tensor parallel) (+ sequence)
//
// With sequence parallelism the work outside the regions (LayerNorm, residual adds, the embeddings' positions)
// runs on R = N/t rows per rank: rank r holds rows [r·R, (r+1)·R) of the [N, width] activation (N = B·T
// tokens, split along the flattened batch·sequence, which per-token work does not mind). Without it R = N and
// every rank holds every row. t = 1 (no group): every region is the identity.
#pragma once

#include <cstdint>

namespace tessera {

// The collectives of one tensor-parallel group (parallel/tensor_parallel.h implements them over a
// Communicator). A failed collective is recorded by the implementation and leaves the buffers as they are:
// the model runs on and the engine checks the group's status before any parameter changes.
class TensorParallelGroup {
 public:
  virtual ~TensorParallelGroup() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t size() const = 0;
  // data[count] = Σ over ranks, in place, identical on every rank.
  virtual void all_reduce(float* data, int64_t count) = 0;
  // out[count·size] = every rank's in[count], in rank order.
  virtual void all_gather(const float* in, float* out, int64_t count) = 0;
  // out[count] = block `rank` of Σ over ranks of in[count·size].
  virtual void reduce_scatter(const float* in, float* out, int64_t count) = 0;
};

class TensorRegions {
 public:
  // group: null (or size 1) for no tensor parallelism. N: tokens of a micro-batch (divisible by the group's
  // size under sequence parallelism).
  TensorRegions(TensorParallelGroup* group, bool sequence_parallel, int64_t tokens);

  bool active() const { return group_ != nullptr && group_->size() > 1; }
  bool sequence_parallel() const { return sequence_parallel_; }
  int64_t rank() const { return active() ? group_->rank() : 0; }
  int64_t size() const { return active() ? group_->size() : 1; }
  // Rows of the residual stream this rank holds: N / t with sequence parallelism, else N; and the first of them.
  int64_t rows() const { return rows_; }
  int64_t first_row() const { return sequence_parallel_ ? rank() * rows_ : 0; }
  TensorParallelGroup* group() const { return group_; }

  // f forward: x[R, width] → the whole [N, width]: x itself, or all-gathered into full.
  const float* enter_forward(const float* x, float* full, int64_t width) const;
  // f backward: the partial sums dfull[N, width] → dx[R, width]: all-reduced in place (returns dfull), or
  // reduce-scattered into dx (returns dx).
  float* enter_backward(float* dfull, float* dx, int64_t width) const;
  // g forward: partial[N, width] → out[R, width]: all-reduced in place (out must be partial), or reduce-scattered.
  void leave_forward(float* partial, float* out, int64_t width) const;
  // g backward: dout[R, width] → the whole [N, width]: dout itself, or all-gathered into dfull.
  const float* leave_backward(const float* dout, float* dfull, int64_t width) const;
  // Sums replicated parameters' gradient contributions over the group where the ranks saw different rows
  // (sequence parallelism: each saw only its R rows); without it every rank computed the same sum.
  void sum_replica_gradients(float* data, int64_t count) const;

 private:
  TensorParallelGroup* group_;
  bool sequence_parallel_;
  int64_t tokens_, rows_;
};

}  // namespace tessera

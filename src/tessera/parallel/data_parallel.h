// DataParallel: the data-parallel axis of one rank — gradient reduction overlapped with backward, ZeRO-1/2/3
// sharding of optimizer state, gradients and parameters, the global gradient norm, the optimizer step and
// sharded checkpoints. It lives outside the training loop: it owns the model's flat parameter and gradient
// buffers (FlatStorage) and follows the model unit by unit through UnitHooks, so Trainer::step only calls
//
//   dp.begin_step(M);  for m: { dp.begin_micro_batch(m); model.forward(); model.backward(dp.loss_scale(M)); }
//   dp.finish_gradients();  norm = dp.clip_gradients(max);  dp.update(lr);
//
// Stages (parallel.zero_stage; Ψ = parameters, p = dp ranks, fp32; docs/parallelism.md):
//   0  replicated: each unit's gradients all-reduced; every rank runs AdamW on everything.   16Ψ per rank
//   1  + optimizer sharded: gradients all-reduced, each rank updates its piece of every unit in place
//      (ShardLayout; m, v of its pieces only), then every unit's parameters are all-gathered.  8Ψ + 8Ψ/p
//   2  + gradients sharded: each unit's gradients reduce-scattered into the rank's piece as soon as backward
//      produced them; the full-size gradients of a unit are released after (ReleasableBuffer).  4Ψ + 12Ψ/p
//   3  + parameters sharded: an fp32 master piece is the only copy; a unit's parameters are all-gathered
//      just before the model uses it (the next unit prefetched) and released after.           16Ψ/p
//   plus, for 2 and 3, the units in flight (full-size gradients between backward and their reduce-scatter;
//   for 3 the gathered units, the embeddings from the encoder to the LM head).
//
// The mean over ranks: backward runs at loss_scale = 1/(M·p) and the collectives sum, so every rank's
// gradients are the mean over the global batch. A collective that fails (a peer gone past the deadline)
// is recorded; later hooks do nothing and finish_gradients/update return it — parameters are never updated
// from an incomplete reduction.
//
// Not thread-safe: driven by the training thread; the communicator may progress on its own thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/comm/communicator.h"
#include "tessera/core/aligned_buffer.h"
#include "tessera/core/stateful.h"
#include "tessera/core/trace_recorder.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/model/gpt_model.h"
#include "tessera/optim/adamw.h"
#include "tessera/parallel/releasable_buffer.h"
#include "tessera/parallel/shard_layout.h"

namespace tessera {

struct DataParallelOptions {
  int zero_stage = 0;   // parallel.zero_stage, 0..3
  bool overlap = true;  // parallel.overlap_comm: reduce during backward (false: all after backward)
  AdamWConfig adamw;
  bool decay_all = false;  // train.decay_all: decay every tensor, not only matrices
  // The part of the model this rank's stage holds (parallel/pipeline_parallel.h); the whole model without a
  // pipeline.
  ModelStage stage = ModelStage::whole();
  // This rank's tensor-parallel slice of every split tensor (parameter_layout.h); size 1: none.
  TensorParallelPart tensor_parallel;
  // The group whose ranks hold the other parts of the model (the tp × pp ranks of this dp replica), outliving
  // the engine: the gradient norm sums over it too. Null: this rank's model is the whole model.
  Communicator* model_parallel = nullptr;
};

// What one step cost in communication on this rank.
struct DataParallelStepStats {
  double exposed_comm_seconds = 0;  // time the training thread waited for collectives (not hidden by compute)
  int64_t comm_bytes = 0;           // payload bytes of the collectives this rank took part in
};

class DataParallel final : public UnitHooks {
 public:
  // Allocates the flat buffers for `spec` as the stage needs them. `dp` and `kernels` outlive the engine.
  static StatusOr<std::unique_ptr<DataParallel>> create(const ModelSpec& spec, Communicator& dp,
                                                        KernelBackend& kernels, const DataParallelOptions& options);
  ~DataParallel() override;

  // What the model must be built with: ModelOptions{...}.unit_alignment and .resident_weights from
  // model_options(base), and storage(). Then attach() it (before init_parameters or load_state).
  ModelOptions model_options(ModelOptions base) const;
  FlatStorage storage() const { return {.params = params_, .grads = grads_}; }
  void attach(GptModel& model);

  // GPT-2 initialisation from `seed` (GptModel::init_parameters' values); under ZeRO-3 unit by unit, each
  // rank keeping its pieces.
  void init_parameters(uint64_t seed);

  // The backward loss scale for M micro-batches per rank: 1 / (M · dp).
  float loss_scale(int64_t micro_batches) const;
  void begin_step(int64_t micro_batches);
  void begin_micro_batch(int64_t index);
  // Reduce every unit's gradients once, in finish_gradients, at every ZeRO stage (no overlap with backward):
  // for schedules that interleave several micro-batches' weight gradients (zero bubble), where no backward
  // is "the last" for every unit at once. At stage 2 the full-size gradients then stay until the step's end.
  void set_reduce_after_backward(bool on) { reduce_after_backward_ = on; }
  // Waits for every reduction of the step; afterwards the gradients this rank updates hold the mean.
  Status finish_gradients();
  // ‖g‖ over the whole model (collective for stages ≥ 1 and over options.model_parallel; a pipeline's
  // replicated embeddings and the tensors every tp rank holds alike counted once); scales the gradients this rank updates by max_norm/‖g‖ when
  // max_norm > 0 and ‖g‖ exceeds it. Returns ‖g‖ before clipping.
  StatusOr<double> clip_gradients(double max_norm);
  // AdamW on this rank's part, then (stages 1, 2) the updated parameters gathered to every rank.
  Status update(float lr);
  const DataParallelStepStats& step_stats() const { return stats_; }
  // Records every collective (issue to completion, communication track) and every wait for one (compute
  // track) into `tracer` from now on (null: none); it outlives the engine's use of it.
  void set_tracer(TraceRecorder* tracer) { tracer_ = tracer; }
  // After finish_gradients: the reduced gradients of `unit` this rank holds — the whole unit at stages 0–1,
  // its piece in the shard at stages 2–3 (the same piece on every stage with an equal unit: how a
  // pipeline sums its tied embeddings' gradients between the first and the last stage).
  std::span<float> unit_gradients(int unit);

  // Every rank's full flat parameter buffer (layout of the model) into out[total] — collective under ZeRO-3.
  Status gather_parameters(float* out);

  // This rank's pieces of "model.<tensor>", "optim.m.<tensor>", "optim.v.<tensor>" as boxes of the global
  // tensors (every rank writes, in parallel; a tp slice maps to its global offsets, a tp replica is written by
  // tp rank 0), and "optim.step" from rank 0. Any dp × tp × stage layout loads any other's: load_state reads
  // the pieces it owns by global offsets.
  void save_state(StateWriter& writer) const;
  Status load_state(StateReader& reader);
  // Everything this rank holds, as exactly the boxes load_state reads (the whole parameters and moments
  // at the stages that replicate them, this rank's pieces otherwise) and "optim.step": the rank's own
  // state for an in-memory checkpoint, which the same rank of the same layout loads back through
  // RankLocalStateWriter/Reader (core/rank_local_state.h).
  void save_held_state(StateWriter& writer) const;

  int zero_stage() const { return options_.zero_stage; }
  const ShardLayout& shards() const { return shards_; }
  const ParameterLayout& layout() const { return layout_; }
  int64_t optimizer_step() const { return optimizer_->step(); }
  // The optimizer (its moments: the whole buffer at stage 0, this rank's shard at stages ≥ 1).
  AdamW& optimizer() { return *optimizer_; }
  const AdamW& optimizer() const { return *optimizer_; }

  // UnitHooks (called by GptModel).
  void before(int unit, ModelPhase phase) override;
  void after(int unit, ModelPhase phase) override;
  void gradients_ready(int unit) override;

 private:
  enum class OpKind { kReduce, kGather };
  struct InFlight {
    CommHandle handle;
    OpKind kind;
    int unit;
    bool accumulate;  // a reduce-scatter into reduce_out_ that must be added into shard_grads_
    double issued_s = 0;  // now_seconds() when it was issued (for the trace)
  };

  DataParallel(const ModelSpec& spec, Communicator& dp, KernelBackend& kernels, const DataParallelOptions& options);
  bool sharded_optimizer() const { return options_.zero_stage >= 1; }
  bool sharded_gradients() const { return options_.zero_stage >= 2; }
  bool sharded_parameters() const { return options_.zero_stage >= 3; }
  // Calls visit(name, slice, begin, count, data) for every range of state this rank holds: elements
  // [begin, begin + count) of the local tensor `name` (tp slice `slice`) at `data`. `params` is the flat
  // parameter buffer to name (the model's, for loading). Stops at the first error.
  using HeldRangeVisitor = std::function<Status(const std::string& name, const TensorSlice& slice, int64_t begin,
                                                int64_t count, float* data)>;
  Status for_each_held_range(float* params, const HeldRangeVisitor& visit) const;
  // The unit whose gradients backward completes last (the embeddings, or a stage's first block).
  int last_gradient_unit() const;
  // Σ g² over the layout's flat range [flat_begin, flat_begin + n), whose gradients are at data, leaving out the
  // ranges another rank counts (uncounted_).
  double counted_sum_squares(const float* data, int64_t flat_begin, int64_t n) const;
  void issue_reduce(int unit);
  // The op's trace name: "all_reduce h.3", "reduce_scatter embeddings", "all_gather final_norm".
  std::string op_name(const InFlight& op) const;
  void issue_gather(int unit);
  // Completes the oldest operation in flight (waiting if `block`); false if none finished.
  bool complete_front(bool block);
  void poll();
  Status wait_all();
  void record(const Status& status);
  void release_unit_parameters(int unit);

  ParameterLayout layout_;
  ShardLayout shards_;
  // Sorted flat ranges [begin, end) of the layout left out of this rank's part of the norm: a pipeline's
  // embeddings replica (the first stage counts it) and, on tp ranks > 0, the tp replicas (tp rank 0 counts them).
  std::vector<std::pair<int64_t, int64_t>> uncounted_;
  Communicator& dp_;
  KernelBackend& kernels_;
  DataParallelOptions options_;
  GptModel* model_ = nullptr;

  // Flat buffers [layout_.total_numel()]: communicator memory where collectives run in place on them, or
  // releasable memory where units come and go (gradients from stage 2, parameters at stage 3).
  CommBuffer params_comm_, grads_comm_;
  ReleasableBuffer params_released_, grads_released_;
  float* params_ = nullptr;
  float* grads_ = nullptr;
  // This rank's shard [shards_.shard_numel()]: the fp32 master pieces (stage 3), the reduced gradient pieces
  // (stages ≥ 2) and, with several micro-batches, the landing buffer of each reduce-scatter before it is
  // added. The optimizer's moments are the shard's too (stages ≥ 1).
  // Communicator memory, so that reduce-scatters into and all-gathers out of it run in place.
  CommBuffer shard_params_, shard_grads_, reduce_out_;
  std::unique_ptr<AdamW> optimizer_;

  TraceRecorder* tracer_ = nullptr;
  std::deque<InFlight> in_flight_;
  std::vector<int> deferred_;          // units whose reduction waits for the end of backward (overlap off)
  bool reduce_after_backward_ = false;  // set_reduce_after_backward
  std::vector<char> gathered_;         // per unit (stage 3): parameters present in params_
  std::vector<char> gather_pending_;   // per unit (stage 3): an all-gather is in flight
  int64_t embedding_forward_uses_ = 0;  // stage 3: the embeddings stay from the encoder to the LM head
  int64_t micro_batches_ = 1, micro_ = 0;
  Status error_;
  DataParallelStepStats stats_;
};

}  // namespace tessera

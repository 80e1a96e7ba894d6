// PipelineParallel: the pipeline axis of one rank — its stage of the model, and the step's forwards, backwards
// and messages in the order of a schedule (spec/pipeline_schedule.h), the same program `tessera plan`
// simulates. It lives outside the training loop, as DataParallel does: Trainer::step calls
//
//   dp.begin_step(M);  stats = pipeline.run_step(read_micro_batch, dp.loss_scale(M));
//   dp.finish_gradients();  pipeline.sum_tied_gradients(dp);  norm = dp.clip_gradients(max);  dp.update(lr);
//
// Stages: pp ranks, rank r runs layers stage_layers(n_layer, pp)[r] (spec/pipeline_stages.h); the first also
// the embeddings, the last the final norm, the tied LM head and the loss. With pp = 1 the one stage is the
// whole model and the program is M × (forward, backward) — the plain gradient-accumulation loop.
//
// One step on rank r runs its program action by action (zb-h1 splits B into I, then W later):
//   recv_act(i)   receive micro-batch i's input activation [R,C] from rank r−1 into a free slot's input
//   F(i)          the stage forward of micro-batch i (the first stage reads its tokens first); its activations
//                 stay in that slot (GptModel::slots = the most micro-batches this program has in flight)
//   send_act(i)   send the stage output to rank r+1 (asynchronous; completed before the slot is reused)
//   recv_grad(i)  receive ∂loss/∂output of micro-batch i from rank r+1
//   B(i)          the stage backward (data parallelism reduces the finished units as it goes); frees the slot
//   I(i), W(i)    zb-h1: the input gradients (what rank r−1 waits for), and later the weight gradients, which
//                 fill what would be the bubble; the slot is freed after W (data parallelism reduces every
//                 unit once after the step's backward)
//   send_grad(i)  send ∂loss/∂input to rank r−1 (asynchronous)
// Interleaved 1F1B (parallel.vpp = v > 1, Megatron): the layers split evenly into pp·v virtual stages and rank r
// holds stages r, r + pp, …, r + (v−1)·pp as v chunks of one model (ModelStage::chunks), each with its own slots;
// every action names its chunk, and stage s hands over to s + 1 on rank (r + 1) mod pp (the last rank's chunk c
// to the first rank's chunk c + 1). The bubble shrinks v-fold, for v× the messages.
// Messages carry tag 2·(i·S + s) (activations) or 2·(i·S + s) + 1 (gradients), s the receiving stage of S, so a
// mismatched schedule fails by name instead of mixing micro-batches or chunks. Time blocked in receives and in
// completing sends is this rank's pipeline bubble; PipelineStepStats reports it against the step's wall time.
//
// Tied embeddings: the last stage keeps a replica of the embeddings unit for the LM head (parameter_layout.h).
// sum_tied_gradients adds the first and the last stage's (dp-reduced) gradients of it, so both hold the
// gradient of the whole model and update their copies identically.
//
// Not thread-safe; driven by the training thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "tessera/comm/communicator.h"
#include "tessera/core/aligned_buffer.h"
#include "tessera/core/trace_recorder.h"
#include "tessera/model/gpt_model.h"
#include "tessera/parallel/data_parallel.h"
#include "tessera/spec/pipeline_schedule.h"
#include "tessera/spec/pipeline_stages.h"

namespace tessera {

// Reads micro-batch `index` (0..M−1) of the current step into inputs and targets [B,T].
using MicroBatchReader = std::function<void(int64_t index, int32_t* inputs, int32_t* targets)>;

struct PipelineStepStats {
  double loss = 0;              // mean loss over the step's micro-batches (the same on every pipeline rank)
  double forward_seconds = 0;   // this rank's stage forwards (incl. reading tokens on the first stage)
  double backward_seconds = 0;  // this rank's stage backwards (incl. waits inside data-parallel hooks)
  double idle_seconds = 0;      // blocked on pipeline messages: this rank's bubble
  double wall_seconds = 0;      // the whole run_step
  double bubble_fraction = 0;   // idle / wall, the mean over the pipeline ranks
  int64_t p2p_bytes = 0;        // bytes this rank sent
};

class PipelineParallel {
 public:
  // The stage of pipeline rank pp.rank() of pp.size() over `spec`'s layers and its program for M micro-batches
  // under `schedule` (kGPipe, kOneFOneB, kZeroBubbleH1 with vpp = 1; kInterleaved with vpp > 1 chunks per rank).
  // `pp` outlives the engine.
  static StatusOr<std::unique_ptr<PipelineParallel>> create(const ModelSpec& spec, Communicator& pp,
                                                            PipelineScheduleKind schedule, int64_t micro_batches,
                                                            int64_t vpp = 1);

  // This rank's part of the model (DataParallelOptions::stage, ModelOptions::stage).
  ModelStage stage() const { return stage_; }
  // Micro-batches this rank holds at once per chunk (ModelOptions::slots).
  int64_t slots() const { return slots_; }
  // The schedule splits backward into input and weight passes (zero bubble; ModelOptions::split_backward).
  bool split_backward() const { return program_.kind == PipelineScheduleKind::kZeroBubbleH1; }
  // The layers of every (virtual) stage, pp·vpp of them.
  const std::vector<StageLayers>& stage_layers() const { return stages_; }
  const PipelineProgram& program() const { return program_; }
  int rank() const { return pp_.rank(); }
  // Bytes of the engine's own buffers for [batch, seq] micro-batches of width n_embd: the gradients received
  // and sent per slot (for the start-up memory report).
  int64_t buffer_bytes(int64_t batch, int64_t seq, int64_t n_embd) const;
  int size() const { return pp_.size(); }

  // The model this rank runs (built with stage() and slots(); outlives the engine's use of it) and the
  // data-parallel engine whose hooks it drives (begin_micro_batch before each backward).
  void attach(GptModel& model, DataParallel& dp);

  // Records every forward, backward and wait for a pipeline message into `tracer` from now on (null: none);
  // it outlives the engine's use of it.
  void set_tracer(TraceRecorder* tracer) { tracer_ = tracer; }

  // One step's forwards and backwards over the pipeline; gradients accumulate at loss_scale. Collective over
  // the pipeline ranks (the loss and the bubble are agreed at the end).
  StatusOr<PipelineStepStats> run_step(const MicroBatchReader& read, float loss_scale);
  // After DataParallel::finish_gradients: the first and the last stage add their tied embeddings' gradients
  // (a no-op for one stage). Collective between those two ranks.
  Status sum_tied_gradients(DataParallel& dp);
  // The sum of the mean evaluation losses of the micro-batches `read` gives for index 0..count−1, forwards
  // only, through the stages (the same value on every pipeline rank). Collective over the pipeline ranks.
  StatusOr<double> evaluate(const MicroBatchReader& read, int64_t count);

 private:
  PipelineParallel(Communicator& pp, PipelineProgram program, std::vector<StageLayers> stages);
  bool first() const { return pp_.rank() == 0; }
  bool last() const { return pp_.rank() == pp_.size() - 1; }
  // Whether this rank's chunk runs the first (global) stage — the encoder — or the last — the head and loss.
  bool first_stage(int64_t chunk) const { return first() && chunk == 0; }
  bool last_stage(int64_t chunk) const { return last() && chunk == program_.vpp - 1; }
  // The global stage of this rank's chunk.
  int64_t global_stage(int64_t chunk) const { return program_.stage_of(pp_.rank(), chunk); }
  // The slot of micro-batch i in `chunk`, taking a free one of the chunk's (its earlier sends completed) on first use.
  StatusOr<int64_t> slot_of(int64_t micro_batch, int64_t chunk);
  // Completes the sends of `slot` (counting the wait as idle into `stats` where given) and forgets them.
  Status complete_sends(int64_t slot, PipelineStepStats* stats);
  // Waits for a handle, counting the time as idle (traced as `what`).
  Status wait_idle(CommHandle& handle, PipelineStepStats& stats, const std::string& what);

  Communicator& pp_;
  PipelineProgram program_;
  std::vector<StageLayers> stages_;
  ModelStage stage_;
  int64_t slots_ = 1;
  GptModel* model_ = nullptr;
  DataParallel* dp_ = nullptr;
  TraceRecorder* tracer_ = nullptr;
  // Per slot (slots_ per chunk, chunk c's first): the micro-batch it holds (−1: free), the gradient received for
  // its output and the gradient of its input to send, both [R,C] (only where the chunk has such neighbours),
  // and its sends in flight.
  std::vector<int64_t> slot_micro_batch_;
  // Per slot: what of its micro-batch is done (kBackwardDone | kGradientSent: the slot is free again).
  static constexpr uint8_t kBackwardDone = 1, kGradientSent = 2;
  std::vector<uint8_t> slot_done_;
  std::vector<AlignedBuffer<float>> output_grads_, input_grads_;
  std::vector<std::vector<CommHandle>> slot_sends_;
  std::vector<int32_t> inputs_, targets_;  // [B,T] the micro-batch being read
};

}  // namespace tessera

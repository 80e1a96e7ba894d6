#include "tessera/parallel/pipeline_parallel.h"

#include <algorithm>
#include <cstring>

#include "tessera/core/check.h"
#include "tessera/core/clock.h"

namespace tessera {

namespace {

using Kind = PipelineActionKind;

// The largest tag MPI guarantees (MPI_TAG_UB ≥ 32767): micro-batch tags stay below it.
constexpr int kLargestTag = 32767;

// Micro-batch i's message into global stage s of S: its activation (forward) or, +1, its gradient (backward).
int activation_tag(int64_t micro_batch, int64_t stage, int64_t stages) {
  return static_cast<int>(2 * (micro_batch * stages + stage));
}
int gradient_tag(int64_t micro_batch, int64_t stage, int64_t stages) {
  return activation_tag(micro_batch, stage, stages) + 1;
}

// The most micro-batches one chunk of `actions` holds a slot for at once: taken at its first recv_act or F,
// given back after its B (or, split, its W).
int64_t slots_needed(const std::vector<PipelineAction>& actions, int64_t chunks) {
  int64_t peak = 1;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    std::vector<char> live;
    int64_t now = 0;
    for (const PipelineAction& a : actions) {
      if (a.chunk != chunk) continue;
      if (a.micro_batch >= static_cast<int64_t>(live.size())) live.resize(static_cast<size_t>(a.micro_batch) + 1, 0);
      char& held = live[static_cast<size_t>(a.micro_batch)];
      if ((a.kind == Kind::kRecvActivation || a.kind == Kind::kForward) && !held) {
        held = 1;
        peak = std::max(peak, ++now);
      } else if (a.kind == Kind::kBackward || a.kind == Kind::kBackwardWeight) {
        held = 0;
        --now;
      }
    }
  }
  return peak;
}

}  // namespace

PipelineParallel::PipelineParallel(Communicator& pp, PipelineProgram program, std::vector<StageLayers> stages)
    : pp_(pp), program_(std::move(program)), stages_(std::move(stages)) {}

StatusOr<std::unique_ptr<PipelineParallel>> PipelineParallel::create(const ModelSpec& spec, Communicator& pp,
                                                                    PipelineScheduleKind schedule,
                                                                    int64_t micro_batches, int64_t vpp) {
  if (schedule == PipelineScheduleKind::kInterleaved && pp.size() == 1) {
    return invalid_argument_error("parallel.schedule = \"interleaved\" with parallel.pp = 1: interleaving needs "
                                  "several pipeline ranks; hint: parallel.pp > 1, or schedule = \"1f1b\" and vpp = 1");
  }
  const int64_t stage_count = pp.size() * vpp;
  if (2 * micro_batches * stage_count + 1 >= kLargestTag) {
    return invalid_argument_error("pipeline: {} micro-batches per step over {} stages; expected at most {} (message "
                                  "tags); hint: a larger train.micro_batch",
                                  micro_batches, stage_count, (kLargestTag - 2) / (2 * stage_count));
  }
  TESSERA_ASSIGN_OR_RETURN(PipelineProgram program,
                           make_pipeline_schedule({.kind = schedule, .pp = pp.size(), .vpp = vpp,
                                                   .micro_batches = micro_batches, .n_layer = spec.n_layer}));
  TESSERA_RETURN_IF_ERROR(validate_pipeline_schedule(program));
  // Interleaved chunks are even (the schedule checked that they divide the layers); otherwise the stages are
  // balanced by compute, the LM head counted on the last.
  TESSERA_ASSIGN_OR_RETURN(std::vector<StageLayers> stages, vpp > 1 ? pipeline_stage_layers(spec.n_layer, stage_count)
                                                                     : pipeline_stage_layers(spec, stage_count));
  std::unique_ptr<PipelineParallel> e(new PipelineParallel(pp, std::move(program), std::move(stages)));
  const StageLayers& mine = e->stages_[static_cast<size_t>(pp.rank())];
  e->stage_ = ModelStage{.first_layer = mine.first, .end_layer = mine.end, .encoder = e->first(), .head = e->last()};
  if (vpp > 1) {
    for (int64_t chunk = 0; chunk < vpp; ++chunk) {
      const StageLayers& layers = e->stages_[static_cast<size_t>(e->global_stage(chunk))];
      e->stage_.chunks.push_back({layers.first, layers.end});
    }
  }
  if (pp.size() == 1) e->stage_ = ModelStage::whole();
  e->slots_ = slots_needed(e->program_.ranks[static_cast<size_t>(pp.rank())], vpp);
  return e;
}

int64_t PipelineParallel::buffer_bytes(int64_t batch, int64_t seq, int64_t n_embd) const {
  int64_t buffers = 0;  // per slot of each chunk: a received output gradient, an input gradient to send
  for (int64_t chunk = 0; chunk < program_.vpp; ++chunk) buffers += (last_stage(chunk) ? 0 : 1) + (first_stage(chunk) ? 0 : 1);
  return slots_ * buffers * batch * seq * n_embd * static_cast<int64_t>(sizeof(float));
}

void PipelineParallel::attach(GptModel& model, DataParallel& dp) {
  TESSERA_CHECK(model.stage() == stage_ && model.slots() == slots_ * program_.vpp &&
                    model.split_backward() == split_backward(),
                "PipelineParallel::attach: build the model with stage(), slots() ({}) and split_backward()", slots_);
  model_ = &model;
  dp_ = &dp;
  // A zero-bubble program interleaves several micro-batches' weight gradients: every unit is reduced once,
  // after the step's backward.
  dp.set_reduce_after_backward(split_backward());
  const int64_t activation = model.stage_activation_floats();  // [R,C]: B·T rows, or B·T/tp with sequence parallelism
  const int64_t all_slots = slots_ * program_.vpp;
  slot_micro_batch_.assign(static_cast<size_t>(all_slots), -1);
  slot_done_.assign(static_cast<size_t>(all_slots), 0);
  output_grads_.clear();
  input_grads_.clear();
  for (int64_t s = 0; s < all_slots; ++s) {
    const int64_t chunk = s / slots_;
    output_grads_.emplace_back(last_stage(chunk) ? 0 : activation);
    input_grads_.emplace_back(first_stage(chunk) ? 0 : activation);
  }
  slot_sends_.clear();
  slot_sends_.resize(static_cast<size_t>(all_slots));
  const int64_t n = model.batch() * model.seq();  // tokens of a micro-batch
  inputs_.resize(static_cast<size_t>(n));
  targets_.resize(static_cast<size_t>(n));
}

StatusOr<int64_t> PipelineParallel::slot_of(int64_t micro_batch, int64_t chunk) {
  const int64_t begin = chunk * slots_, end = begin + slots_;
  for (int64_t s = begin; s < end; ++s) {
    if (slot_micro_batch_[static_cast<size_t>(s)] == micro_batch) return s;
  }
  for (int64_t s = begin; s < end; ++s) {
    if (slot_micro_batch_[static_cast<size_t>(s)] >= 0) continue;
    // The slot's earlier sends read its output and input gradient: they must be done before it is reused.
    TESSERA_RETURN_IF_ERROR(complete_sends(s, nullptr));
    slot_micro_batch_[static_cast<size_t>(s)] = micro_batch;
    return s;
  }
  return internal_error("pipeline rank {}: no free activation slot for micro-batch {} of chunk {} ({} slots)",
                        pp_.rank(), micro_batch, chunk, slots_);
}

Status PipelineParallel::complete_sends(int64_t slot, PipelineStepStats* stats) {
  auto& sends = slot_sends_[static_cast<size_t>(slot)];
  Status status;
  for (CommHandle& send : sends) {
    status = stats != nullptr ? wait_idle(send, *stats, "send") : send.wait();
    if (!status.ok()) break;
  }
  sends.clear();
  return status.with_context("pipeline send");
}

Status PipelineParallel::wait_idle(CommHandle& handle, PipelineStepStats& stats, const std::string& what) {
  const double start = now_seconds();
  Status status = handle.wait();
  const double end = now_seconds();
  stats.idle_seconds += end - start;
  if (tracer_ != nullptr) tracer_->add(what, "idle", start, end);
  return status;
}

StatusOr<PipelineStepStats> PipelineParallel::run_step(const MicroBatchReader& read, float loss_scale) {
  TESSERA_CHECK(model_ != nullptr, "PipelineParallel::run_step before attach");
  const Stopwatch step_watch;
  PipelineStepStats stats;
  const int64_t activation_bytes = model_->stage_activation_floats() * static_cast<int64_t>(sizeof(float));
  // The neighbours of every stage of this rank (an interleaved rank's last stage hands on to rank 0's next chunk).
  const int pp = pp_.size(), previous = (pp_.rank() + pp - 1) % pp, next = (pp_.rank() + 1) % pp;
  const int64_t S = program_.stages();
  double loss = 0.0;
  // Backwards so far per chunk: data parallelism reduces a unit after its chunk's last micro-batch.
  std::vector<int64_t> backwards(static_cast<size_t>(program_.vpp), 0);
  std::fill(slot_micro_batch_.begin(), slot_micro_batch_.end(), -1);
  std::fill(slot_done_.begin(), slot_done_.end(), 0);
  for (const PipelineAction& a : program_.ranks[static_cast<size_t>(pp_.rank())]) {
    TESSERA_ASSIGN_OR_RETURN(const int64_t slot, slot_of(a.micro_batch, a.chunk));
    const size_t s = static_cast<size_t>(slot);
    const int64_t stage = global_stage(a.chunk);
    const bool first_chunk = first_stage(a.chunk), last_chunk = last_stage(a.chunk);
    // Trace names: "F3", or "F3.1" for micro-batch 3 in chunk 1 of an interleaved rank.
    const std::string id = std::to_string(a.micro_batch) + (program_.vpp > 1 ? "." + std::to_string(a.chunk) : "");
    switch (a.kind) {
      case Kind::kRecvActivation: {
        CommHandle recv = pp_.recv_async(model_->stage_input(slot), activation_bytes, previous,
                                         activation_tag(a.micro_batch, stage, S));
        const std::string what = "recv_act" + id;
        TESSERA_RETURN_IF_ERROR(wait_idle(recv, stats, what).with_context("pipeline " + what));
        break;
      }
      case Kind::kForward: {
        const double start = now_seconds();
        // Every stage reads the micro-batch (the loader is indexed by sample, so this is cheap and keeps the
        // stages independent): the first uses its tokens, the last its targets.
        if (first_chunk || last_chunk) read(a.micro_batch, inputs_.data(), targets_.data());
        loss += model_->forward_stage(slot, first_chunk ? inputs_.data() : nullptr,
                                      first_chunk ? nullptr : model_->stage_input(slot),
                                      last_chunk ? targets_.data() : nullptr);
        const double end = now_seconds();
        stats.forward_seconds += end - start;
        if (tracer_ != nullptr) tracer_->add("F" + id, "forward", start, end);
        break;
      }
      case Kind::kSendActivation:
        slot_sends_[s].push_back(pp_.send_async(model_->stage_output(slot), activation_bytes, next,
                                                activation_tag(a.micro_batch, stage + 1, S)));
        stats.p2p_bytes += activation_bytes;
        break;
      case Kind::kRecvGrad: {
        CommHandle recv = pp_.recv_async(output_grads_[s].data(), activation_bytes, next,
                                         gradient_tag(a.micro_batch, stage, S));
        const std::string what = "recv_grad" + id;
        TESSERA_RETURN_IF_ERROR(wait_idle(recv, stats, what).with_context("pipeline " + what));
        break;
      }
      case Kind::kBackward:
      case Kind::kBackwardInput: {
        const bool split = a.kind == Kind::kBackwardInput;
        const double start = now_seconds();
        if (dp_ != nullptr) dp_->begin_micro_batch(backwards[static_cast<size_t>(a.chunk)]);
        ++backwards[static_cast<size_t>(a.chunk)];
        const float* output_grad = last_chunk ? nullptr : output_grads_[s].data();
        float* input_grad = first_chunk ? nullptr : input_grads_[s].data();
        if (split) {
          model_->backward_stage_input(slot, output_grad, input_grad, loss_scale);
        } else {
          model_->backward_stage(slot, output_grad, input_grad, loss_scale);
        }
        const double end = now_seconds();
        stats.backward_seconds += end - start;
        if (tracer_ != nullptr) tracer_->add((split ? "I" : "B") + id, "backward", start, end);
        if (!split) slot_done_[s] |= kBackwardDone;
        if (first_chunk) slot_done_[s] |= kGradientSent;
        break;
      }
      case Kind::kBackwardWeight: {
        const double start = now_seconds();
        model_->backward_stage_weight(slot);
        const double end = now_seconds();
        stats.backward_seconds += end - start;
        if (tracer_ != nullptr) tracer_->add("W" + id, "backward", start, end);
        slot_done_[s] |= kBackwardDone;
        break;
      }
      case Kind::kSendGrad:
        slot_sends_[s].push_back(pp_.send_async(input_grads_[s].data(), activation_bytes, previous,
                                                gradient_tag(a.micro_batch, stage - 1, S)));
        stats.p2p_bytes += activation_bytes;
        slot_done_[s] |= kGradientSent;
        break;
    }
    // Done with a slot once its backward is complete (B, or W after I) and its input gradient sent (slot_of
    // waits for that send before the slot is reused).
    if (slot_done_[s] == (kBackwardDone | kGradientSent)) {
      slot_micro_batch_[s] = -1;
      slot_done_[s] = 0;
    }
  }
  for (int64_t slot = 0; slot < static_cast<int64_t>(slot_sends_.size()); ++slot) {
    TESSERA_RETURN_IF_ERROR(complete_sends(slot, &stats));
  }
  stats.wall_seconds = step_watch.elapsed_seconds();
  // The loss lives on the last stage; the bubble is averaged over the stages.
  double agreed[2] = {last() ? loss / static_cast<double>(program_.micro_batches) : 0.0,
                      stats.wall_seconds > 0 ? stats.idle_seconds / stats.wall_seconds : 0.0};
  if (pp_.size() > 1) TESSERA_RETURN_IF_ERROR(pp_.all_reduce(agreed, 2, ReduceOp::kSum).with_context("pipeline loss"));
  stats.loss = agreed[0];
  stats.bubble_fraction = agreed[1] / pp_.size();
  return stats;
}

Status PipelineParallel::sum_tied_gradients(DataParallel& dp) {
  if (pp_.size() == 1 || (!first() && !last())) return Status();
  const int unit = dp.layout().embedding_unit();
  TESSERA_CHECK(unit >= 0, "PipelineParallel: the first and the last stage hold the embeddings unit");
  std::span<float> mine = dp.unit_gradients(unit);
  const int peer = first() ? pp_.size() - 1 : 0;
  // Both send theirs and add the other's: a + b on one and b + a on the other are the same floats. In pieces of
  // kTiedPiece floats through one small buffer (the unit is V·C floats, 77 MB at GPT-2's vocabulary: a whole
  // copy would be the rank's largest allocation after the model); each piece's send completes before it changes.
  constexpr int64_t kTiedPiece = int64_t{1} << 20;
  constexpr int kTiedTag = kLargestTag;  // above every micro-batch's (create() checks); pieces arrive in order
  const int64_t n = static_cast<int64_t>(mine.size());
  AlignedBuffer<float> theirs(std::min(n, kTiedPiece));
  for (int64_t begin = 0; begin < n; begin += kTiedPiece) {
    const int64_t count = std::min(kTiedPiece, n - begin);
    const int64_t bytes = count * static_cast<int64_t>(sizeof(float));
    float* piece = mine.data() + begin;
    CommHandle send = pp_.send_async(piece, bytes, peer, kTiedTag);
    CommHandle recv = pp_.recv_async(theirs.data(), bytes, peer, kTiedTag);
    TESSERA_RETURN_IF_ERROR(recv.wait().with_context("pipeline tied embeddings' gradients"));
    TESSERA_RETURN_IF_ERROR(send.wait().with_context("pipeline tied embeddings' gradients"));
    for (int64_t i = 0; i < count; ++i) piece[i] += theirs[i];
  }
  return Status();
}

StatusOr<double> PipelineParallel::evaluate(const MicroBatchReader& read, int64_t count) {
  TESSERA_CHECK(model_ != nullptr, "PipelineParallel::evaluate before attach");
  const int64_t activation_bytes = model_->stage_activation_floats() * static_cast<int64_t>(sizeof(float));
  const int pp = pp_.size(), previous = (pp_.rank() + pp - 1) % pp, next = (pp_.rank() + 1) % pp;
  const int64_t S = program_.stages();
  double total = 0.0;
  // Forwards only, micro-batch after micro-batch (and chunk after chunk) down the stages. The sends are
  // asynchronous and each chunk's slots rotate, so a stage forwards micro-batch i+1 while i travels on (the
  // stages overlap instead of taking turns); a slot is reused once its send has completed. Each rank's order
  // (i, then chunk) only ever waits for work that comes earlier in its neighbour's order: no cycle.
  // MPI keeps one sender's messages of one tag in order, so the tags only need to tell neighbouring
  // micro-batches apart: they cycle, staying far below MPI's tag limit whatever the size of the val set.
  const int64_t tag_cycle = std::max<int64_t>(1, std::min<int64_t>(1024, (kLargestTag - 2) / (2 * S)));
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t chunk = 0; chunk < program_.vpp; ++chunk) {
      const bool first_chunk = first_stage(chunk), last_chunk = last_stage(chunk);
      const int64_t slot = chunk * slots_ + i % slots_, stage = global_stage(chunk);
      TESSERA_RETURN_IF_ERROR(complete_sends(slot, nullptr).with_context("evaluation"));
      if (!first_chunk) {
        TESSERA_RETURN_IF_ERROR(pp_.recv(model_->stage_input(slot), activation_bytes, previous,
                                         activation_tag(i % tag_cycle, stage, S))
                                    .with_context("pipeline evaluation activation"));
      }
      if (first_chunk || last_chunk) read(i, inputs_.data(), targets_.data());
      total += model_->forward_stage(slot, first_chunk ? inputs_.data() : nullptr,
                                     first_chunk ? nullptr : model_->stage_input(slot),
                                     last_chunk ? targets_.data() : nullptr, GptModel::Pass::kEval);
      if (!last_chunk) {
        slot_sends_[static_cast<size_t>(slot)].push_back(
            pp_.send_async(model_->stage_output(slot), activation_bytes, next, activation_tag(i % tag_cycle, stage + 1, S)));
      }
    }
  }
  for (int64_t slot = 0; slot < static_cast<int64_t>(slot_sends_.size()); ++slot) {
    TESSERA_RETURN_IF_ERROR(complete_sends(slot, nullptr).with_context("evaluation"));
  }
  if (pp_.size() > 1) TESSERA_RETURN_IF_ERROR(pp_.all_reduce(&total, 1, ReduceOp::kSum).with_context("pipeline evaluation"));
  return total;
}

}  // namespace tessera

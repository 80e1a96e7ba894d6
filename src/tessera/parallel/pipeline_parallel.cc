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

int activation_tag(int64_t micro_batch) { return static_cast<int>(2 * micro_batch); }
int gradient_tag(int64_t micro_batch) { return static_cast<int>(2 * micro_batch + 1); }

// The most micro-batches `actions` holds a slot for at once: taken at its first recv_act or F, given back
// after its B (or, split, its W).
int64_t slots_needed(const std::vector<PipelineAction>& actions) {
  std::vector<char> live;
  int64_t now = 0, peak = 0;
  for (const PipelineAction& a : actions) {
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
  return std::max<int64_t>(peak, 1);
}

}  // namespace

PipelineParallel::PipelineParallel(Communicator& pp, PipelineProgram program, std::vector<StageLayers> stages)
    : pp_(pp), program_(std::move(program)), stages_(std::move(stages)) {}

StatusOr<std::unique_ptr<PipelineParallel>> PipelineParallel::create(const ModelSpec& spec, Communicator& pp,
                                                                    PipelineScheduleKind schedule,
                                                                    int64_t micro_batches) {
  if (schedule == PipelineScheduleKind::kInterleaved) {
    return invalid_argument_error("parallel.schedule = \"{}\": not built yet; expected \"gpipe\", \"1f1b\" or "
                                  "\"zb-h1\"", pipeline_schedule_kind_name(schedule));
  }
  if (2 * micro_batches + 1 >= kLargestTag) {
    return invalid_argument_error("pipeline: {} micro-batches per step; expected at most {} (message tags); hint: a "
                                  "larger train.micro_batch", micro_batches, (kLargestTag - 2) / 2);
  }
  TESSERA_ASSIGN_OR_RETURN(std::vector<StageLayers> stages, pipeline_stage_layers(spec, pp.size()));
  TESSERA_ASSIGN_OR_RETURN(PipelineProgram program,
                           make_pipeline_schedule({.kind = schedule, .pp = pp.size(), .vpp = 1,
                                                   .micro_batches = micro_batches, .n_layer = spec.n_layer}));
  TESSERA_RETURN_IF_ERROR(validate_pipeline_schedule(program));
  std::unique_ptr<PipelineParallel> e(new PipelineParallel(pp, std::move(program), std::move(stages)));
  const StageLayers& mine = e->stages_[static_cast<size_t>(pp.rank())];
  e->stage_ = ModelStage{.first_layer = mine.first, .end_layer = mine.end, .encoder = e->first(), .head = e->last()};
  if (pp.size() == 1) e->stage_ = ModelStage::whole();
  e->slots_ = slots_needed(e->program_.ranks[static_cast<size_t>(pp.rank())]);
  return e;
}

int64_t PipelineParallel::buffer_bytes(int64_t batch, int64_t seq, int64_t n_embd) const {
  const int64_t per_slot = (last() ? 0 : 1) + (first() ? 0 : 1);
  return slots_ * per_slot * batch * seq * n_embd * static_cast<int64_t>(sizeof(float));
}

void PipelineParallel::attach(GptModel& model, DataParallel& dp) {
  TESSERA_CHECK(model.stage() == stage_ && model.slots() >= slots_ && model.split_backward() == split_backward(),
                "PipelineParallel::attach: build the model with stage(), slots() ({}) and split_backward()", slots_);
  model_ = &model;
  dp_ = &dp;
  // A zero-bubble program interleaves several micro-batches' weight gradients: every unit is reduced once,
  // after the step's backward.
  dp.set_reduce_after_backward(split_backward());
  const int64_t n = model.batch() * model.seq();
  const int64_t activation = n * model.spec().n_embd;
  slot_micro_batch_.assign(static_cast<size_t>(slots_), -1);
  slot_done_.assign(static_cast<size_t>(slots_), 0);
  output_grads_.clear();
  input_grads_.clear();
  for (int64_t s = 0; s < slots_; ++s) {
    output_grads_.emplace_back(last() ? 0 : activation);
    input_grads_.emplace_back(first() ? 0 : activation);
  }
  slot_sends_.clear();
  slot_sends_.resize(static_cast<size_t>(slots_));
  inputs_.resize(static_cast<size_t>(n));
  targets_.resize(static_cast<size_t>(n));
}

StatusOr<int64_t> PipelineParallel::slot_of(int64_t micro_batch) {
  for (int64_t s = 0; s < slots_; ++s) {
    if (slot_micro_batch_[static_cast<size_t>(s)] == micro_batch) return s;
  }
  for (int64_t s = 0; s < slots_; ++s) {
    if (slot_micro_batch_[static_cast<size_t>(s)] >= 0) continue;
    // The slot's earlier sends read its output and input gradient: they must be done before it is reused.
    TESSERA_RETURN_IF_ERROR(complete_sends(s, nullptr));
    slot_micro_batch_[static_cast<size_t>(s)] = micro_batch;
    return s;
  }
  return internal_error("pipeline rank {}: no free activation slot for micro-batch {} ({} slots)", pp_.rank(),
                        micro_batch, slots_);
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
  const int64_t n = model_->batch() * model_->seq();
  const int64_t activation_bytes = n * model_->spec().n_embd * static_cast<int64_t>(sizeof(float));
  const int previous = pp_.rank() - 1, next = pp_.rank() + 1;
  double loss = 0.0;
  int64_t backwards = 0;
  std::fill(slot_micro_batch_.begin(), slot_micro_batch_.end(), -1);
  std::fill(slot_done_.begin(), slot_done_.end(), 0);
  for (const PipelineAction& a : program_.ranks[static_cast<size_t>(pp_.rank())]) {
    TESSERA_ASSIGN_OR_RETURN(const int64_t slot, slot_of(a.micro_batch));
    const size_t s = static_cast<size_t>(slot);
    switch (a.kind) {
      case Kind::kRecvActivation: {
        CommHandle recv = pp_.recv_async(model_->stage_input(slot), activation_bytes, previous, activation_tag(a.micro_batch));
        const std::string what = "recv_act" + std::to_string(a.micro_batch);
        TESSERA_RETURN_IF_ERROR(wait_idle(recv, stats, what).with_context("pipeline " + what));
        break;
      }
      case Kind::kForward: {
        const double start = now_seconds();
        // Every stage reads the micro-batch (the loader is indexed by sample, so this is cheap and keeps the
        // stages independent): the first uses its tokens, the last its targets.
        if (first() || last()) read(a.micro_batch, inputs_.data(), targets_.data());
        loss += model_->forward_stage(slot, first() ? inputs_.data() : nullptr,
                                      first() ? nullptr : model_->stage_input(slot), last() ? targets_.data() : nullptr);
        const double end = now_seconds();
        stats.forward_seconds += end - start;
        if (tracer_ != nullptr) tracer_->add("F" + std::to_string(a.micro_batch), "forward", start, end);
        break;
      }
      case Kind::kSendActivation:
        slot_sends_[s].push_back(pp_.send_async(model_->stage_output(slot), activation_bytes, next,
                                                activation_tag(a.micro_batch)));
        stats.p2p_bytes += activation_bytes;
        break;
      case Kind::kRecvGrad: {
        CommHandle recv = pp_.recv_async(output_grads_[s].data(), activation_bytes, next, gradient_tag(a.micro_batch));
        const std::string what = "recv_grad" + std::to_string(a.micro_batch);
        TESSERA_RETURN_IF_ERROR(wait_idle(recv, stats, what).with_context("pipeline " + what));
        break;
      }
      case Kind::kBackward:
      case Kind::kBackwardInput: {
        const bool split = a.kind == Kind::kBackwardInput;
        const double start = now_seconds();
        if (dp_ != nullptr) dp_->begin_micro_batch(backwards);
        ++backwards;
        const float* output_grad = last() ? nullptr : output_grads_[s].data();
        float* input_grad = first() ? nullptr : input_grads_[s].data();
        if (split) {
          model_->backward_stage_input(slot, output_grad, input_grad, loss_scale);
        } else {
          model_->backward_stage(slot, output_grad, input_grad, loss_scale);
        }
        const double end = now_seconds();
        stats.backward_seconds += end - start;
        if (tracer_ != nullptr) tracer_->add((split ? "I" : "B") + std::to_string(a.micro_batch), "backward", start, end);
        if (!split) slot_done_[s] |= kBackwardDone;
        if (first()) slot_done_[s] |= kGradientSent;
        break;
      }
      case Kind::kBackwardWeight: {
        const double start = now_seconds();
        model_->backward_stage_weight(slot);
        const double end = now_seconds();
        stats.backward_seconds += end - start;
        if (tracer_ != nullptr) tracer_->add("W" + std::to_string(a.micro_batch), "backward", start, end);
        slot_done_[s] |= kBackwardDone;
        break;
      }
      case Kind::kSendGrad:
        slot_sends_[s].push_back(pp_.send_async(input_grads_[s].data(), activation_bytes, previous,
                                                gradient_tag(a.micro_batch)));
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
  for (int64_t slot = 0; slot < slots_; ++slot) TESSERA_RETURN_IF_ERROR(complete_sends(slot, &stats));
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
  const int64_t bytes = static_cast<int64_t>(mine.size() * sizeof(float));
  const int peer = first() ? pp_.size() - 1 : 0;
  // Both send theirs and add the other's: a + b on one and b + a on the other are the same floats.
  AlignedBuffer<float> theirs(static_cast<int64_t>(mine.size()));
  constexpr int kTiedTag = kLargestTag;  // above every micro-batch's (create() checks)
  CommHandle send = pp_.send_async(mine.data(), bytes, peer, kTiedTag);
  CommHandle recv = pp_.recv_async(theirs.data(), bytes, peer, kTiedTag);
  TESSERA_RETURN_IF_ERROR(recv.wait().with_context("pipeline tied embeddings' gradients"));
  TESSERA_RETURN_IF_ERROR(send.wait().with_context("pipeline tied embeddings' gradients"));
  for (size_t i = 0; i < mine.size(); ++i) mine[i] += theirs[i];
  return Status();
}

StatusOr<double> PipelineParallel::evaluate(const MicroBatchReader& read, int64_t count) {
  TESSERA_CHECK(model_ != nullptr, "PipelineParallel::evaluate before attach");
  const int64_t n = model_->batch() * model_->seq();
  const int64_t activation_bytes = n * model_->spec().n_embd * static_cast<int64_t>(sizeof(float));
  double total = 0.0;
  // Forwards only, micro-batch after micro-batch down the stages. The sends are asynchronous and the slots
  // rotate, so a stage forwards micro-batch i+1 while i travels on (the stages overlap instead of taking
  // turns); a slot is reused once its send has completed.
  // MPI keeps one sender's messages of one tag in order, so the tags only need to tell neighbouring
  // micro-batches apart: they cycle, staying far below MPI's tag limit whatever the size of the val set.
  constexpr int64_t kEvalTagCycle = 1024;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t slot = i % slots_;
    const int tag = activation_tag(i % kEvalTagCycle);
    TESSERA_RETURN_IF_ERROR(complete_sends(slot, nullptr).with_context("evaluation"));
    if (!first()) {
      TESSERA_RETURN_IF_ERROR(pp_.recv(model_->stage_input(slot), activation_bytes, pp_.rank() - 1, tag)
                                  .with_context("pipeline evaluation activation"));
    }
    if (first() || last()) read(i, inputs_.data(), targets_.data());
    total += model_->forward_stage(slot, first() ? inputs_.data() : nullptr, first() ? nullptr : model_->stage_input(slot),
                                   last() ? targets_.data() : nullptr, GptModel::Pass::kEval);
    if (!last()) {
      slot_sends_[static_cast<size_t>(slot)].push_back(
          pp_.send_async(model_->stage_output(slot), activation_bytes, pp_.rank() + 1, tag));
    }
  }
  for (int64_t slot = 0; slot < slots_; ++slot) TESSERA_RETURN_IF_ERROR(complete_sends(slot, nullptr).with_context("evaluation"));
  if (pp_.size() > 1) TESSERA_RETURN_IF_ERROR(pp_.all_reduce(&total, 1, ReduceOp::kSum).with_context("pipeline evaluation"));
  return total;
}

}  // namespace tessera

#include "tessera/parallel/data_parallel.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tessera/core/check.h"
#include "tessera/core/clock.h"
#include "tessera/core/flat_range.h"
#include "tessera/core/tensor_slice.h"

namespace tessera {

namespace {

void copy_floats(float* to, const float* from, int64_t n) {
  if (n > 0) std::memcpy(to, from, static_cast<size_t>(n) * sizeof(float));
}

// `bytes` of communicator memory (collectives run on it in place), zero.
StatusOr<CommBuffer> allocate_zeroed(Communicator& comm, int64_t bytes) {
  TESSERA_ASSIGN_OR_RETURN(CommBuffer memory, comm.allocate(bytes));
  if (bytes > 0) std::memset(memory.data(), 0, static_cast<size_t>(bytes));
  return memory;
}

}  // namespace

DataParallel::DataParallel(const ModelSpec& spec, Communicator& dp, KernelBackend& kernels,
                           const DataParallelOptions& options)
    : layout_(spec, ShardLayout::unit_alignment(dp.size()), options.stage, options.tensor_parallel),
      shards_(layout_, dp.size(), dp.rank()),
      dp_(dp),
      kernels_(kernels),
      options_(options) {
  if (layout_.embeddings_replica()) {
    const ParamUnit& unit = layout_.units()[static_cast<size_t>(layout_.embedding_unit())];
    uncounted_.emplace_back(unit.begin, unit.end);
  }
  for (const ParamTensor& t : layout_.tensors()) {
    if (t.tp_replica && options.tensor_parallel.rank != 0) uncounted_.emplace_back(t.offset, t.offset + t.numel);
  }
  std::sort(uncounted_.begin(), uncounted_.end());  // (a range may lie inside another: counted_sum_squares skips both)
}

double DataParallel::counted_sum_squares(const float* data, int64_t flat_begin, int64_t n) const {
  double sum = 0;
  int64_t at = flat_begin;  // the next element not yet summed or skipped
  const int64_t end = flat_begin + n;
  for (const auto& [skip_begin, skip_end] : uncounted_) {
    if (skip_end <= at) continue;
    if (skip_begin >= end) break;
    if (skip_begin > at) sum += kernels_.sum_squares(data + (at - flat_begin), skip_begin - at);
    at = std::max(at, skip_end);
  }
  if (at < end) sum += kernels_.sum_squares(data + (at - flat_begin), end - at);
  return sum;
}

DataParallel::~DataParallel() {
  // Operations in flight read and write the buffers: finish them before the buffers go (errors were
  // already recorded or are moot now).
  // The model that called the hooks is already gone (it is built on this engine's storage, so it goes first).
  while (!in_flight_.empty()) complete_front(/*block=*/true);
}

StatusOr<std::unique_ptr<DataParallel>> DataParallel::create(const ModelSpec& spec, Communicator& dp,
                                                             KernelBackend& kernels,
                                                             const DataParallelOptions& options) {
  if (options.zero_stage < 0 || options.zero_stage > 3) {
    return invalid_argument_error("parallel.zero_stage: expected 0, 1, 2 or 3, found {}", options.zero_stage);
  }
  std::unique_ptr<DataParallel> e(new DataParallel(spec, dp, kernels, options));
  const int64_t total = e->layout_.total_numel();
  const int64_t bytes = total * static_cast<int64_t>(sizeof(float));
  // Parameters: all-gathered in place at stages 1–2 (communicator memory: peers read this rank's piece of the
  // buffer in place). At stage 3 a unit is gathered from the master pieces (communicator memory) into this
  // buffer, which no peer reads: private memory, whose pages come and go as units do (faulting private
  // pages, in huge pages where the kernel allows, costs a fraction of faulting shared-memory pages).
  if (e->sharded_parameters()) {
    TESSERA_ASSIGN_OR_RETURN(e->params_released_, ReleasableBuffer::create(total));
    e->params_ = e->params_released_.data();
  } else {
    TESSERA_ASSIGN_OR_RETURN(e->params_comm_, dp.allocate(bytes));
    e->params_ = e->params_comm_.as<float>();
    std::memset(e->params_, 0, static_cast<size_t>(bytes));  // the padding stays zero
  }
  // Gradients: all-reduced in place at stages 0–1, reduce-scattered out of releasable memory from stage 2.
  if (e->sharded_gradients()) {
    TESSERA_ASSIGN_OR_RETURN(CommBuffer memory, dp.allocate(bytes));
    e->grads_released_ = ReleasableBuffer::adopt(std::move(memory));
    e->grads_ = e->grads_released_.data();
  } else {
    TESSERA_ASSIGN_OR_RETURN(e->grads_comm_, dp.allocate(bytes));
    e->grads_ = e->grads_comm_.as<float>();
    std::memset(e->grads_, 0, static_cast<size_t>(bytes));
  }
  // The optimizer: over the flat buffer (stage 0) or over this rank's pieces, laid out in its shard.
  std::vector<OptimizedTensor> optimized;
  const auto& tensors = e->layout_.tensors();
  if (e->sharded_optimizer()) {
    // Its moments are compact (the shard); it updates its pieces of the replicated parameters in place
    // (stages 1–2) or its master pieces (3), from the all-reduced full-size gradients (1) or its reduced
    // gradient pieces (2–3).
    const int64_t shard_bytes = e->shards_.shard_numel() * static_cast<int64_t>(sizeof(float));
    if (e->sharded_parameters()) {
      TESSERA_ASSIGN_OR_RETURN(e->shard_params_, allocate_zeroed(dp, shard_bytes));
    }
    if (e->sharded_gradients()) {
      TESSERA_ASSIGN_OR_RETURN(e->shard_grads_, allocate_zeroed(dp, shard_bytes));
    }
    for (const OwnedTensorPart& part : e->shards_.owned_parts()) {
      const ParamTensor& t = tensors[part.tensor];
      optimized.push_back({.name = t.name, .shape = t.shape,
                           .offset = e->sharded_parameters() ? part.shard : part.flat, .numel = part.count,
                           .decay = options.decay_all || t.is_matrix(),
                           .grad_offset = e->sharded_gradients() ? part.shard : part.flat, .state_offset = part.shard});
    }
  } else {
    for (const ParamTensor& t : tensors) {
      optimized.push_back({.name = t.name, .shape = t.shape, .offset = t.offset, .numel = t.numel,
                           .decay = options.decay_all || t.is_matrix()});
    }
  }
  e->optimizer_ = std::make_unique<AdamW>(options.adamw, std::move(optimized), kernels);
  e->gathered_.assign(e->layout_.units().size(), e->sharded_parameters() ? 0 : 1);
  e->gather_pending_.assign(e->layout_.units().size(), 0);
  return e;
}

ModelOptions DataParallel::model_options(ModelOptions base) const {
  base.unit_alignment = ShardLayout::unit_alignment(dp_.size());
  base.stage = options_.stage;
  base.tensor_parallel = options_.tensor_parallel;
  // At stage 3 the parameters are present one unit at a time: no whole-buffer bf16 copy.
  if (sharded_parameters()) base.resident_weights = false;
  return base;
}

void DataParallel::attach(GptModel& model) {
  TESSERA_CHECK(model.params() == params_ && model.num_params() == layout_.total_numel(),
                "DataParallel::attach: the model must be built on this engine's storage() and model_options()");
  model_ = &model;
  model.set_unit_hooks(this);
}

void DataParallel::init_parameters(uint64_t seed) {
  TESSERA_CHECK(model_ != nullptr, "DataParallel::init_parameters before attach");
  if (!sharded_parameters()) {
    model_->init_parameters(seed);
    return;
  }
  // Stage 3: one unit exists at a time; each rank keeps its piece of it.
  for (int u = 0; u < shards_.num_units(); ++u) {
    model_->init_unit_parameters(seed, u);
    const UnitPiece& piece = shards_.piece(u);
    copy_floats(shard_params_.as<float>() + piece.shard_offset, params_ + piece.flat_begin, piece.size);
    release_unit_parameters(u);
  }
}

float DataParallel::loss_scale(int64_t micro_batches) const {
  return 1.0f / static_cast<float>(micro_batches * dp_.size());
}

void DataParallel::begin_step(int64_t micro_batches) {
  micro_batches_ = micro_batches;
  micro_ = 0;
  stats_ = {};
  if (sharded_gradients()) {
    // Every unit's gradients were released (zero) after its reduce-scatter; after a failed step some may
    // not have been.
    grads_released_.release(0, layout_.total_numel());
  } else {
    std::memset(grads_, 0, static_cast<size_t>(layout_.total_numel()) * sizeof(float));
  }
}

void DataParallel::begin_micro_batch(int64_t index) {
  micro_ = index;
  // Stages 2–3: the previous micro-batch's reduce-scatters must have read (and released) the full-size
  // gradients before this backward writes them again, and have landed in the shard before reduce_out_ is
  // reused. Only the last of them (the embeddings') is usually still in flight here.
  if (sharded_gradients() && index > 0) (void)wait_all();  // an error stays recorded for finish_gradients
}

void DataParallel::record(const Status& status) {
  if (!status.ok() && error_.ok()) error_ = status;
}

void DataParallel::issue_reduce(int unit) {
  const ParamUnit& u = layout_.units()[static_cast<size_t>(unit)];
  stats_.comm_bytes += u.size() * static_cast<int64_t>(sizeof(float));
  if (!sharded_gradients()) {
    // In place over the unit's full-size gradients (stages 0, 1).
    in_flight_.push_back({.handle = dp_.all_reduce_async(grads_ + u.begin, u.size(), DataType::kFloat32, ReduceOp::kSum),
                          .kind = OpKind::kReduce, .unit = unit, .accumulate = false, .issued_s = now_seconds()});
    return;
  }
  // This rank's piece of the sum lands in its shard: directly for the first micro-batch, through
  // reduce_out_ (then added) for the others.
  const UnitPiece& piece = shards_.piece(unit);
  const bool accumulate = micro_ > 0;
  if (accumulate && reduce_out_.bytes() == 0) {
    auto memory = allocate_zeroed(dp_, shards_.shard_numel() * static_cast<int64_t>(sizeof(float)));
    if (!memory.ok()) {
      record(memory.status());
      return;
    }
    reduce_out_ = std::move(*memory);
  }
  float* out = (accumulate ? reduce_out_.as<float>() : shard_grads_.as<float>()) + piece.shard_offset;
  in_flight_.push_back({.handle = dp_.reduce_scatter_async(grads_ + u.begin, out, piece.size, DataType::kFloat32,
                                                           ReduceOp::kSum),
                        .kind = OpKind::kReduce, .unit = unit, .accumulate = accumulate, .issued_s = now_seconds()});
}

void DataParallel::issue_gather(int unit) {
  const ParamUnit& u = layout_.units()[static_cast<size_t>(unit)];
  const UnitPiece& piece = shards_.piece(unit);
  stats_.comm_bytes += u.size() * static_cast<int64_t>(sizeof(float));
  gather_pending_[static_cast<size_t>(unit)] = 1;
  in_flight_.push_back({.handle = dp_.all_gather_async(shard_params_.as<float>() + piece.shard_offset, params_ + u.begin,
                                                       piece.size, DataType::kFloat32),
                        .kind = OpKind::kGather, .unit = unit, .accumulate = false, .issued_s = now_seconds()});
}

bool DataParallel::complete_front(bool block) {
  if (in_flight_.empty()) return false;
  InFlight& op = in_flight_.front();
  if (!block && !op.handle.test()) return false;
  const double wait_start = now_seconds();
  const Status status = op.handle.wait();
  const double done = now_seconds();
  stats_.exposed_comm_seconds += done - wait_start;
  if (tracer_ != nullptr) {
    const std::string name = op_name(op);
    tracer_->add(name, "comm", op.issued_s, done, TraceRecorder::Track::kComm);
    if (block) tracer_->add("wait " + name, "comm", wait_start, done);
  }
  record(status);
  if (status.ok() && op.kind == OpKind::kReduce && sharded_gradients()) {
    const ParamUnit& u = layout_.units()[static_cast<size_t>(op.unit)];
    const UnitPiece& piece = shards_.piece(op.unit);
    if (op.accumulate) {
      kernels_.residual_forward(shard_grads_.as<float>() + piece.shard_offset, shard_grads_.as<float>() + piece.shard_offset,
                                reduce_out_.as<float>() + piece.shard_offset, piece.size);
    }
    grads_released_.release(u.begin, u.end);  // zero again for the next micro-batch
  }
  if (op.kind == OpKind::kGather) {
    gather_pending_[static_cast<size_t>(op.unit)] = 0;
    gathered_[static_cast<size_t>(op.unit)] = status.ok() ? 1 : 0;
  }
  in_flight_.pop_front();
  return true;
}

std::string DataParallel::op_name(const InFlight& op) const {
  const char* kind = op.kind == OpKind::kGather ? "all_gather" : sharded_gradients() ? "reduce_scatter" : "all_reduce";
  return std::string(kind) + " " + layout_.units()[static_cast<size_t>(op.unit)].name;
}

void DataParallel::poll() {
  while (complete_front(/*block=*/false)) {
  }
}

Status DataParallel::wait_all() {
  while (complete_front(/*block=*/true)) {
  }
  return error_;
}

void DataParallel::release_unit_parameters(int unit) {
  const ParamUnit& u = layout_.units()[static_cast<size_t>(unit)];
  params_released_.release(u.begin, u.end);
  gathered_[static_cast<size_t>(unit)] = 0;
}

void DataParallel::before(int unit, ModelPhase phase) {
  if (!sharded_parameters() || !error_.ok()) return;
  const int embeddings = layout_.embedding_unit();
  if (unit == embeddings && phase == ModelPhase::kForward) ++embedding_forward_uses_;
  const size_t u = static_cast<size_t>(unit);
  if (!gathered_[u]) {
    if (!gather_pending_[u]) issue_gather(unit);
    while (gather_pending_[u] && complete_front(/*block=*/true)) {
    }
  }
  // Prefetch the unit the model needs next while it computes with this one: forward runs the embeddings'
  // encoder, the blocks and the final norm, then the embeddings again for the LM head (nothing to prefetch
  // then); backward runs the final norm and the blocks down to block 0 (the embeddings' backward reads no
  // parameter).
  int next = -1;
  if (phase == ModelPhase::kBackward) {
    next = unit - 1;
  } else if (unit != embeddings || embedding_forward_uses_ % 2 == 1) {
    next = unit + 1;
  }
  if (next > embeddings && next < shards_.num_units() && !gathered_[static_cast<size_t>(next)] &&
      !gather_pending_[static_cast<size_t>(next)]) {
    issue_gather(next);
  }
  poll();
}

void DataParallel::after(int unit, ModelPhase phase) {
  if (!sharded_parameters() || !error_.ok()) return;
  // The embeddings serve the encoder and, at the end of forward, the tied LM head: keep them in between.
  const bool embeddings_needed_again = unit == layout_.embedding_unit() && phase == ModelPhase::kForward &&
                                       embedding_forward_uses_ % 2 == 1;
  if (!embeddings_needed_again) release_unit_parameters(unit);
  poll();
}

void DataParallel::gradients_ready(int unit) {
  if (!error_.ok()) return;
  if (reduce_after_backward_) {  // once per unit and step, in finish_gradients
    if (std::find(deferred_.begin(), deferred_.end(), unit) == deferred_.end()) deferred_.push_back(unit);
    return;
  }
  // Stages 0–1 reduce once per step, after the last micro-batch's backward (gradients accumulate locally
  // before); stages 2–3 reduce-scatter every micro-batch, as the full-size gradients do not stay.
  if (!sharded_gradients() && micro_ != micro_batches_ - 1) return;
  if (!sharded_gradients() && dp_.size() == 1) return;  // the sum over one rank
  if (options_.overlap) {
    issue_reduce(unit);
    poll();
    return;
  }
  deferred_.push_back(unit);
  // Without overlap, stages 2–3 still reduce-scatter each micro-batch, once its backward is complete (the
  // embeddings' gradients come last).
  if (sharded_gradients() && unit == last_gradient_unit()) {
    for (const int u : deferred_) issue_reduce(u);
    deferred_.clear();
  }
}

Status DataParallel::finish_gradients() {
  // After a split backward every unit holds the whole step's gradients: one reduction each, as for the
  // first micro-batch (stage 2 reduce-scatters straight into the shard).
  if (reduce_after_backward_) {
    if (!sharded_gradients() && dp_.size() == 1) deferred_.clear();  // the sum over one rank
    micro_ = 0;
  }
  for (const int unit : deferred_) {
    if (error_.ok()) issue_reduce(unit);
  }
  deferred_.clear();
  return wait_all();
}

int DataParallel::last_gradient_unit() const {
  // Backward ends with the embeddings where the stage has them, else with its first block.
  return layout_.embedding_unit() >= 0 ? layout_.embedding_unit() : layout_.block_unit(layout_.first_layer());
}

std::span<float> DataParallel::unit_gradients(int unit) {
  const UnitPiece& piece = shards_.piece(unit);
  if (sharded_gradients()) return {shard_grads_.as<float>() + piece.shard_offset, static_cast<size_t>(piece.size)};
  const ParamUnit& u = layout_.units()[static_cast<size_t>(unit)];
  return {grads_ + u.begin, static_cast<size_t>(u.size())};
}

StatusOr<double> DataParallel::clip_gradients(double max_norm) {
  TESSERA_RETURN_IF_ERROR(error_);
  // The gradients this rank updates (data, the flat range of the layout they hold, floats): all of them
  // (stage 0), unit by unit its piece of the full-size ones (1) or its shard's piece (2, 3). Padding is zero
  // and adds nothing.
  struct Held {
    float* data;
    int64_t flat_begin, n;
  };
  std::vector<Held> mine;
  if (!sharded_optimizer()) mine.push_back({grads_, 0, layout_.total_numel()});
  for (int u = 0; u < shards_.num_units() && sharded_optimizer(); ++u) {
    const UnitPiece& piece = shards_.piece(u);
    float* data = sharded_gradients() ? shard_grads_.as<float>() + piece.shard_offset : grads_ + piece.flat_begin;
    mine.push_back({data, piece.flat_begin, piece.size});
  }
  double sum_squares = 0;
  for (const Held& held : mine) sum_squares += counted_sum_squares(held.data, held.flat_begin, held.n);
  // The sum over the ranks that hold different parts: the dp shards (stages ≥ 1), then the pipeline stages.
  for (Communicator* group : {sharded_optimizer() ? &dp_ : nullptr, options_.model_parallel}) {
    if (group == nullptr || group->size() == 1) continue;
    const Stopwatch watch;
    const Status status = group->all_reduce(&sum_squares, 1, ReduceOp::kSum).with_context("gradient norm");
    stats_.exposed_comm_seconds += watch.elapsed_seconds();
    record(status);
    TESSERA_RETURN_IF_ERROR(status);
  }
  const double norm = std::sqrt(sum_squares);
  if (max_norm > 0.0 && norm > max_norm) {
    for (const Held& held : mine) kernels_.scale(held.data, static_cast<float>(max_norm / norm), held.n);
  }
  return norm;
}

Status DataParallel::update(float lr) {
  TESSERA_RETURN_IF_ERROR(error_);
  float* params = model_ != nullptr ? model_->params() : params_;  // marks the model's bf16 copies stale
  if (!sharded_optimizer()) {
    optimizer_->update(params, grads_, lr);
    return Status();
  }
  optimizer_->update(sharded_parameters() ? shard_params_.as<float>() : params,
                     sharded_gradients() ? shard_grads_.as<float>() : grads_, lr);
  if (sharded_parameters()) {
    // The next forward starts with the embeddings and block 0: gather them now, behind whatever the caller
    // does between steps (the loss mean, metrics, the next batch), instead of at the first hook.
    for (const int unit : {layout_.embedding_unit(), layout_.block_unit(layout_.first_layer())}) {
      if (unit >= 0 && unit < shards_.num_units() && !gathered_[static_cast<size_t>(unit)] && !gather_pending_[static_cast<size_t>(unit)]) {
        issue_gather(unit);
      }
    }
    return error_;
  }
  // Stages 1–2: every rank's updated pieces to every rank, unit by unit, in place.
  for (int u = 0; u < shards_.num_units(); ++u) {
    const ParamUnit& unit = layout_.units()[static_cast<size_t>(u)];
    const UnitPiece& piece = shards_.piece(u);
    if (dp_.size() == 1) continue;
    stats_.comm_bytes += unit.size() * static_cast<int64_t>(sizeof(float));
    in_flight_.push_back({.handle = dp_.all_gather_async(params_ + piece.flat_begin, params_ + unit.begin, piece.size,
                                                         DataType::kFloat32),
                          .kind = OpKind::kGather, .unit = u, .accumulate = false, .issued_s = now_seconds()});
  }
  return wait_all();
}

Status DataParallel::gather_parameters(float* out) {
  if (!sharded_parameters()) {
    copy_floats(out, params_, layout_.total_numel());
    return Status();
  }
  for (int u = 0; u < shards_.num_units(); ++u) {
    const UnitPiece& piece = shards_.piece(u);
    TESSERA_RETURN_IF_ERROR(dp_.all_gather(shard_params_.as<float>() + piece.shard_offset,
                                           out + layout_.units()[static_cast<size_t>(u)].begin, piece.size));
  }
  return Status();
}

void DataParallel::save_state(StateWriter& writer) const {
  const auto& tensors = layout_.tensors();
  const float* m = optimizer_->first_moments();
  const float* v = optimizer_->second_moments();
  for (const OwnedTensorPart& part : shards_.owned_parts()) {
    const ParamTensor& t = tensors[part.tensor];
    // The last pipeline stage's embeddings replicate the first stage's, which saves them.
    if (layout_.embeddings_replica() && layout_.unit_of_tensor(part.tensor) == layout_.embedding_unit()) continue;
    // A tensor every tp rank holds alike: tp rank 0 saves it.
    if (t.tp_replica && options_.tensor_parallel.rank != 0) continue;
    const float* params = sharded_parameters() ? shard_params_.as<float>() + part.shard : params_ + part.flat;
    const int64_t state = sharded_optimizer() ? part.shard : part.flat;
    write_sliced_range(writer, "model." + t.name, t.slice, part.tensor_begin, part.count, params);
    write_sliced_range(writer, "optim.m." + t.name, t.slice, part.tensor_begin, part.count, m + state);
    write_sliced_range(writer, "optim.v." + t.name, t.slice, part.tensor_begin, part.count, v + state);
  }
  if (dp_.rank() == 0) writer.write_int("optim.step", optimizer_->step());
}

Status DataParallel::for_each_held_range(float* params, const HeldRangeVisitor& visit) const {
  const auto& tensors = layout_.tensors();
  if (!sharded_parameters()) {  // every rank holds every parameter
    for (const ParamTensor& t : tensors) {
      TESSERA_RETURN_IF_ERROR(visit("model." + t.name, t.slice, 0, t.numel, params + t.offset));
    }
  }
  float* m = optimizer_->first_moments();
  float* v = optimizer_->second_moments();
  if (!sharded_optimizer()) {  // stage 0: every rank holds the whole optimizer state
    for (const ParamTensor& t : tensors) {
      TESSERA_RETURN_IF_ERROR(visit("optim.m." + t.name, t.slice, 0, t.numel, m + t.offset));
      TESSERA_RETURN_IF_ERROR(visit("optim.v." + t.name, t.slice, 0, t.numel, v + t.offset));
    }
    return Status();
  }
  for (const OwnedTensorPart& part : shards_.owned_parts()) {  // its pieces, wherever they were stored
    const ParamTensor& t = tensors[part.tensor];
    if (sharded_parameters()) {  // the master pieces are the only copy
      TESSERA_RETURN_IF_ERROR(visit("model." + t.name, t.slice, part.tensor_begin, part.count,
                                    const_cast<float*>(shard_params_.as<float>()) + part.shard));
    }
    TESSERA_RETURN_IF_ERROR(visit("optim.m." + t.name, t.slice, part.tensor_begin, part.count, m + part.shard));
    TESSERA_RETURN_IF_ERROR(visit("optim.v." + t.name, t.slice, part.tensor_begin, part.count, v + part.shard));
  }
  return Status();
}

Status DataParallel::load_state(StateReader& reader) {
  float* params = model_ != nullptr ? model_->params() : params_;  // marks the model's bf16 copies stale
  TESSERA_RETURN_IF_ERROR(for_each_held_range(
      params, [&](const std::string& name, const TensorSlice& slice, int64_t begin, int64_t count, float* data) {
        return read_sliced_range(reader, name, slice, begin, count, data);
      }));
  TESSERA_ASSIGN_OR_RETURN(const int64_t step, reader.read_int("optim.step"));
  optimizer_->set_step(step);
  return Status();
}

void DataParallel::save_held_state(StateWriter& writer) const {
  const Status visited = for_each_held_range(
      params_, [&](const std::string& name, const TensorSlice& slice, int64_t begin, int64_t count, float* data) {
        write_sliced_range(writer, name, slice, begin, count, data);
        return Status();
      });
  TESSERA_CHECK(visited.ok(), "save_held_state: {}", visited.message());  // the writer's visitor cannot fail
  writer.write_int("optim.step", optimizer_->step());
}

}  // namespace tessera

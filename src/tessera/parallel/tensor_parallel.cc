#include "tessera/parallel/tensor_parallel.h"

#include <fmt/format.h>

#include "tessera/core/clock.h"

namespace tessera {

template <typename Op>
void TensorParallel::run(const char* name, int64_t bytes, Op op) {
  if (!error_.ok()) return;
  const double start = now_seconds();
  const Status status = op();
  const double end = now_seconds();
  stats_.comm_seconds += end - start;
  stats_.comm_bytes += bytes;
  ++stats_.collectives;
  if (tracer_ != nullptr) tracer_->add(fmt::format("{} tp", name), "comm", start, end, TraceRecorder::Track::kComm);
  if (!status.ok()) error_ = status.with_context("tensor parallelism");
}

void TensorParallel::all_reduce(float* data, int64_t count) {
  run("all_reduce", count * 4, [&] { return tp_.all_reduce(data, count, ReduceOp::kSum); });
}

void TensorParallel::all_gather(const float* in, float* out, int64_t count) {
  run("all_gather", count * 4, [&] { return tp_.all_gather(in, out, count); });
}

void TensorParallel::reduce_scatter(const float* in, float* out, int64_t count) {
  run("reduce_scatter", count * 4 * tp_.size(), [&] { return tp_.reduce_scatter(in, out, count, ReduceOp::kSum); });
}

TensorParallelStepStats TensorParallel::take_step_stats() {
  const TensorParallelStepStats stats = stats_;
  stats_ = {};
  return stats;
}

}  // namespace tessera

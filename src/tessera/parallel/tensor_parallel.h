// TensorParallel: the tensor-parallel axis of one rank — the model's TensorParallelGroup (model/tensor_regions.h)
// over the tp Communicator. The model calls it inside forward and backward (two all-reduces per block each way,
// or the all-gather / reduce-scatter pairs of sequence parallelism); it lives outside the training loop like the
// other engines, and the trainer only hands it to the model and checks status() before every update.
//
// A failed collective (a peer gone past the deadline) is recorded, the buffers are left as they are and every
// later call does nothing: the model runs on to the end of the step on stale numbers, and status() keeps the
// parameters from being updated from them. Blocking calls: each region's result is needed at once.
//
// Not thread-safe; driven by the training thread.
#pragma once

#include <cstdint>

#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"
#include "tessera/core/trace_recorder.h"
#include "tessera/model/tensor_regions.h"

namespace tessera {

struct TensorParallelStepStats {
  double comm_seconds = 0;  // time in tp collectives (all exposed: nothing overlaps them)
  int64_t comm_bytes = 0;   // payload bytes this rank contributed
  int64_t collectives = 0;
};

class TensorParallel final : public TensorParallelGroup {
 public:
  // `tp` outlives the engine.
  explicit TensorParallel(Communicator& tp) : tp_(tp) {}

  int64_t rank() const override { return tp_.rank(); }
  int64_t size() const override { return tp_.size(); }
  void all_reduce(float* data, int64_t count) override;
  void all_gather(const float* in, float* out, int64_t count) override;
  void reduce_scatter(const float* in, float* out, int64_t count) override;

  // The first failure of any collective so far (ok if none).
  const Status& status() const { return error_; }
  // Counters since the last call (one step's).
  TensorParallelStepStats take_step_stats();
  // Records every collective into `tracer` (communication track) from now on; null: none.
  void set_tracer(TraceRecorder* tracer) { tracer_ = tracer; }

 private:
  // Runs one collective unless an earlier one failed; times, counts and traces it.
  template <typename Op>
  void run(const char* name, int64_t bytes, Op op);

  Communicator& tp_;
  Status error_;
  TensorParallelStepStats stats_;
  TraceRecorder* tracer_ = nullptr;
};

}  // namespace tessera

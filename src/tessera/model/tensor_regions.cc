#include "tessera/model/tensor_regions.h"

#include "tessera/core/check.h"

namespace tessera {

TensorRegions::TensorRegions(TensorParallelGroup* group, bool sequence_parallel, int64_t tokens)
    : group_(group), sequence_parallel_(sequence_parallel && group != nullptr && group->size() > 1), tokens_(tokens) {
  TESSERA_CHECK(!sequence_parallel_ || tokens % group_->size() == 0,
                "TensorRegions: {} tokens do not split over {} sequence-parallel ranks", tokens, group_->size());
  rows_ = sequence_parallel_ ? tokens / group_->size() : tokens;
}

const float* TensorRegions::enter_forward(const float* x, float* full, int64_t width) const {
  if (!sequence_parallel_) return x;
  group_->all_gather(x, full, rows_ * width);
  return full;
}

float* TensorRegions::enter_backward(float* dfull, float* dx, int64_t width) const {
  if (!active()) return dfull;
  if (!sequence_parallel_) {
    group_->all_reduce(dfull, tokens_ * width);
    return dfull;
  }
  group_->reduce_scatter(dfull, dx, rows_ * width);
  return dx;
}

void TensorRegions::leave_forward(float* partial, float* out, int64_t width) const {
  if (!active()) return;
  if (!sequence_parallel_) {
    TESSERA_CHECK(partial == out, "TensorRegions::leave_forward: without sequence parallelism the sum is in place");
    group_->all_reduce(partial, tokens_ * width);
    return;
  }
  group_->reduce_scatter(partial, out, rows_ * width);
}

const float* TensorRegions::leave_backward(const float* dout, float* dfull, int64_t width) const {
  if (!sequence_parallel_) return dout;
  group_->all_gather(dout, dfull, rows_ * width);
  return dfull;
}

void TensorRegions::sum_replica_gradients(float* data, int64_t count) const {
  if (sequence_parallel_) group_->all_reduce(data, count);
}

}  // namespace tessera

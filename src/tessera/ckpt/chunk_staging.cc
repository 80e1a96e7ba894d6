#include "tessera/ckpt/chunk_staging.h"

#include <algorithm>
#include <cstring>

#include "tessera/core/check.h"

namespace tessera {

BudgetedChunkStaging::BudgetedChunkStaging(const SnapshotWriter& snapshot, uint64_t budget,
                                           std::function<void()> all_staged)
    : budget_(budget), all_staged_(std::move(all_staged)) {
  TESSERA_CHECK(budget > 0, "BudgetedChunkStaging: the budget must be positive");
  for (const SnapshotWriter::Tensor& tensor : snapshot.tensors()) {
    for (const SnapshotWriter::Chunk& chunk : tensor.chunks) chunks_.push_back(&chunk);
  }
  buffers_.resize(chunks_.size());
  copy_ahead();
}

void BudgetedChunkStaging::copy_ahead() {
  while (next_ < chunks_.size() && (staged_ == 0 || staged_ + chunks_[next_]->nbytes <= budget_)) {
    const SnapshotWriter::Chunk& chunk = *chunks_[next_];
    auto reusable = free_.find(chunk.nbytes);
    if (reusable != free_.end()) {
      buffers_[next_] = std::move(reusable->second);
      free_.erase(reusable);
    } else {
      buffers_[next_] = std::make_unique_for_overwrite<std::byte[]>(std::max<size_t>(chunk.nbytes, 1));
    }
    if (chunk.nbytes > 0) std::memcpy(buffers_[next_].get(), chunk.data(), chunk.nbytes);
    staged_ += chunk.nbytes;
    peak_ = std::max(peak_, staged_);
    if (++next_ == chunks_.size() && all_staged_) all_staged_();
  }
}

const std::byte* BudgetedChunkStaging::stage(size_t chunk) {
  TESSERA_CHECK(chunk < next_ && buffers_[chunk] != nullptr, "BudgetedChunkStaging: chunk {} asked out of order",
                chunk);
  return buffers_[chunk].get();
}

void BudgetedChunkStaging::written(size_t chunk) {
  staged_ -= chunks_[chunk]->nbytes;
  free_.emplace(chunks_[chunk]->nbytes, std::move(buffers_[chunk]));
  // Freed buffers beyond what the next chunks could reuse would hold memory past the budget: keep at most one.
  while (free_.size() > 1) free_.erase(free_.begin());
  copy_ahead();
}

}  // namespace tessera

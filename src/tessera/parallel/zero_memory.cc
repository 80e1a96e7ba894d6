#include "tessera/parallel/zero_memory.h"

#include <algorithm>

namespace tessera {

MemoryReport zero_memory_report(MemoryReport unsharded, const ParameterLayout& layout, int dp, int zero_stage,
                                bool overlap, int64_t micro_batches, MatmulPrecision precision,
                                bool shared_memory_peers) {
  const double psi = static_cast<double>(layout.total_numel());
  const double shard = psi / std::max(dp, 1);
  const auto& units = layout.units();
  // The embeddings unit (a pipeline's middle stages have none) and the largest block of this stage.
  const int e = layout.embedding_unit();
  const double embeddings = e >= 0 ? static_cast<double>(units[static_cast<size_t>(e)].size()) : 0.0;
  double block = 0;
  for (const LayerRange& chunk : layout.chunks()) {
    for (int64_t l = chunk.first; l < chunk.end; ++l) {
      block = std::max(block, static_cast<double>(units[static_cast<size_t>(layout.block_unit(l))].size()));
    }
  }
  const double bf16_copy = precision == MatmulPrecision::kBf16 ? 2.0 * psi : 0.0;

  MemoryReport r = unsharded;
  const double in_flight = (overlap ? 4.0 * std::min(psi, embeddings + block) : 4.0 * psi) +
                           (micro_batches > 1 ? 4.0 * shard : 0.0);
  switch (zero_stage) {
    case 0:
      r.parameters = 4.0 * psi + bf16_copy;
      r.gradients = 4.0 * psi;
      r.optimizer = 8.0 * psi;
      break;
    case 1:
      r.parameters = 4.0 * psi + bf16_copy;
      r.gradients = 4.0 * psi;
      r.optimizer = 8.0 * shard;
      break;
    case 2:
      r.parameters = 4.0 * psi + bf16_copy;
      r.gradients = 4.0 * shard + in_flight;
      r.optimizer = 8.0 * shard;
      break;
    default:  // 3: no resident bf16 copy (the matmuls convert per call)
      r.parameters = 4.0 * std::min(psi, embeddings + 2.0 * block);
      r.gradients = 4.0 * shard + in_flight;
      r.optimizer = 12.0 * shard;
      break;
  }
  if (shared_memory_peers && dp > 1) {
    // All-reduced in place (the gradients at stages 0–1): a rank reduces whichever chunks it claims, so over
    // a few steps it touches all of every peer's buffer. Reduce-scattered (gradients at 2) and all-gathered
    // (parameters at 1–2) in place: its own slice of each peer's buffer.
    const double whole_of_peers = 4.0 * psi * (dp - 1), slice_of_peers = whole_of_peers / dp;
    if (zero_stage <= 1) r.peer_buffers += whole_of_peers;
    if (zero_stage == 2) r.peer_buffers += slice_of_peers;
    if (zero_stage == 1 || zero_stage == 2) r.peer_buffers += slice_of_peers;
  }
  return r;
}

}  // namespace tessera

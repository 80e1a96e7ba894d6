// Silent-data-corruption defence by comparing values across replicas that must be identical (data-
// parallel replicas after an update: same parameters, bit for bit). NaN/Inf checks catch only a small
// fraction of SDC; a flipped mantissa bit changes the fingerprint.
//
//   ReplicaFingerprint fp;
//   for (each parameter tensor, in the same order on every replica) fp.update(data, numel);
//   TESSERA_ASSIGN_OR_RETURN(DivergenceReport r, find_divergent_replicas(dp_group, fp.digest()));
//   if (!r.agree()) … roll back and replay (train/trainer.cc: a rank whose state differs from its own
//   replay is named; with r.ambiguous, e.g. two replicas, only the replay can name it)
//
// The fingerprint is XXH3-64 (seed 0) over the buffers' bytes in update order: order-sensitive (a
// swap of two values or of two tensors changes it), ~10+ GB/s, not cryptographic (a fault is random,
// not adversarial). Ranks must feed the same tensors in the same order with the same dtypes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/comm/communicator.h"
#include "tessera/core/hash.h"
#include "tessera/core/status.h"

namespace tessera {

class ReplicaFingerprint {
 public:
  ReplicaFingerprint();
  void update(const float* data, size_t count) { update_bytes(data, count * sizeof(float)); }
  void update_bytes(const void* data, size_t bytes);
  // The fingerprint of everything fed so far (more updates may follow).
  uint64_t digest() const;

 private:
  std::unique_ptr<StreamingHash> hash_;  // heap: StreamingHash is neither copyable nor movable
};

// The fingerprint of one float buffer.
uint64_t fingerprint_floats(const float* data, size_t count);

struct DivergenceReport {
  std::vector<uint64_t> fingerprints;  // [rank of group]
  uint64_t majority = 0;               // the value more than half the ranks hold (valid unless ambiguous)
  // Ranks whose fingerprint differs from the majority. Ambiguous: every rank (any may be faulty).
  std::vector<int> divergent;
  // No value is held by more than half the ranks (2 replicas that disagree, a 2-2 split, …): a vote
  // cannot name the faulty rank; the caller replays the last step on each and compares again.
  bool ambiguous = false;

  bool agree() const { return divergent.empty(); }
  // "rank 2 of 4 diverges: 0x… (majority 0x…)", "all 4 replicas agree: 0x…", "ambiguous: …".
  std::string describe() const;
};

// Collective over `group` (every rank calls it, with its own fingerprint): gathers the fingerprints
// and votes. A comm failure is returned as is.
StatusOr<DivergenceReport> find_divergent_replicas(Communicator& group, uint64_t fingerprint);

// The vote alone, on gathered fingerprints (what find_divergent_replicas does after its all-gather).
DivergenceReport vote_on_fingerprints(std::vector<uint64_t> fingerprints);

}  // namespace tessera

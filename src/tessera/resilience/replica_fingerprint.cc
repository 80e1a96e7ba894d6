#include "tessera/resilience/replica_fingerprint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

namespace tessera {

ReplicaFingerprint::ReplicaFingerprint() : hash_(std::make_unique<StreamingHash>()) {}

void ReplicaFingerprint::update_bytes(const void* data, size_t bytes) { hash_->update(data, bytes); }

uint64_t ReplicaFingerprint::digest() const { return hash_->digest(); }

uint64_t fingerprint_floats(const float* data, size_t count) { return hash_bytes(data, count * sizeof(float)); }

DivergenceReport vote_on_fingerprints(std::vector<uint64_t> fingerprints) {
  DivergenceReport report;
  report.fingerprints = std::move(fingerprints);
  const int n = static_cast<int>(report.fingerprints.size());
  if (n == 0) return report;  // nothing to disagree about
  std::map<uint64_t, int> votes;
  for (uint64_t value : report.fingerprints) ++votes[value];
  bool found = false;
  for (const auto& [value, count] : votes) {
    if (2 * count > n) {
      report.majority = value;
      found = true;
    }
  }
  report.ambiguous = !found;
  for (int rank = 0; rank < n; ++rank) {
    if (report.ambiguous || report.fingerprints[static_cast<size_t>(rank)] != report.majority) {
      report.divergent.push_back(rank);
    }
  }
  return report;
}

std::string DivergenceReport::describe() const {
  const size_t n = fingerprints.size();
  std::vector<std::string> hex;
  for (uint64_t value : fingerprints) hex.push_back(hash_to_hex(value));
  if (ambiguous) {
    return fmt::format("ambiguous: no fingerprint is held by a majority of the {} replicas ({})", n, fmt::join(hex, ", "));
  }
  if (divergent.empty()) return fmt::format("all {} replicas agree: {}", n, hash_to_hex(majority));
  std::vector<std::string> ranks;
  for (int rank : divergent) ranks.push_back(fmt::format("rank {} ({})", rank, hex[static_cast<size_t>(rank)]));
  return fmt::format("{} of {} replicas diverge from the majority {}: {}", divergent.size(), n, hash_to_hex(majority),
                     fmt::join(ranks, ", "));
}

StatusOr<DivergenceReport> find_divergent_replicas(Communicator& group, uint64_t fingerprint) {
  std::vector<uint64_t> all(static_cast<size_t>(group.size()));
  TESSERA_RETURN_IF_ERROR(group.all_gather_bytes(&fingerprint, all.data(), sizeof(uint64_t))
                              .with_context("replica fingerprint all-gather"));
  return vote_on_fingerprints(std::move(all));
}

}  // namespace tessera

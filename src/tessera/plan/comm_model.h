// Alpha-beta cost of collectives on the links of a cluster.
//
// A link moves S bytes in α + S/β. Ring algorithms on a group of n ranks (NCCL's choice at large sizes):
//   all-reduce       2(n−1)·α + 2(n−1)/n · S/β
//   reduce-scatter   (n−1)·α  + (n−1)/n · S/β      (S = the full, unsharded buffer)
//   all-gather       (n−1)·α  + (n−1)/n · S/β
//   send/recv        α + S/β
//   all-to-all       α + max((g_in − 1)/n · S/β_up, (n − g_in)/n · S/β_out)   (S = what one rank sends in
//                    all, 1/n to each member; the in-domain and cross-domain shares move concurrently)
// Which link a group uses: ranks are laid out tp fastest, then cp, dp, pp (spec/grid_order.h, the order the
// runtime's ProcessGrid uses too; Megatron's and torchtitan's), so a group
// of n ranks with stride s spans n·s consecutive ranks; it stays on the scale-up link (NVLink, ICI) when
// that span fits in one aligned scale-up domain (span ≤ domain and divides it). A group spanning domains
// runs two-level (NCCL's hierarchical rings/trees): g_in = min(n, domain/s) members per domain (1 when
// s ≥ domain), g_out = min(n, ceil(n·s/domain)) domains the group touches (at least 2; a group that fits in
// size but straddles a boundary: g_in = ceil(n/2), g_out = 2);
//   reduce-scatter = RS_in(S) on scale-up + RS_out(S/g_in) on scale-out (all-gather mirrored),
//   all-reduce     = RS_in(S) + AR_out(S/g_in) + AG_in(S).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "tessera/spec/cluster_spec.h"

namespace tessera::plan {

struct Link {
  double bytes_per_s = 1;  // achieved β (line rate × efficiency)
  double latency_s = 0;    // α
};

struct ClusterLinks {
  Link scaleup;
  Link scaleout;
  int64_t scaleup_domain = 1;
  // Where tensor-parallel collectives run on a link of their own (plan calibrate: Tessera's blocking tp
  // collectives on the mpi backend, far slower than the shared-memory copies the rest is priced at); unset:
  // the links above.
  std::optional<Link> tensor_parallel;
  // The link a group of `size` ranks, consecutive ranks `stride` apart, runs on.
  const Link& link_for(int64_t size, int64_t stride) const {
    return fits_scaleup(size, stride) ? scaleup : scaleout;
  }
  // Whether every such group lies inside one aligned scale-up domain: groups occupy aligned blocks of
  // size·stride ranks, so the span must fit and divide the domain (dp 3 of tp 8 = 24 ranks fits NVL72).
  bool fits_scaleup(int64_t size, int64_t stride) const {
    const int64_t span = size * std::max<int64_t>(stride, 1);
    const int64_t domain = aligned_domain(span);
    return size <= 1 || (span <= domain && domain % span == 0);
  }
  // The ranks of one scale-up domain a job's groups of `span` ranks are laid out on: the whole domain when
  // the span divides it (dp 3 of tp 8 on NVL72), else its largest power-of-two block — a power-of-two job
  // places 64 ranks per NVL72 rack (16 of its 18 compute trays), so a 64-rank group stays inside one rack.
  int64_t aligned_domain(int64_t span) const {
    if (span <= 0 || scaleup_domain % span == 0 || span % scaleup_domain == 0) return scaleup_domain;
    int64_t block = 1;
    while (block * 2 <= scaleup_domain) block *= 2;
    return block;
  }
};

ClusterLinks cluster_links(const ClusterSpec& cluster, const AcceleratorSpec& accelerator);

// Two-level split of a group of n ranks, consecutive members `stride` apart (module comment): `inner` members
// per scale-up domain, `domains` domains the group touches = ceil(n·stride / domain), capped at n (n / inner
// would drop the partial domain: dp = 16 of tp = 8 on NVL72 touches 2 domains, not 16/9 → 1).
struct GroupSplit {
  int64_t inner = 1;
  int64_t domains = 1;
};
GroupSplit group_split(const ClusterLinks& links, int64_t n, int64_t stride);

// Group-aware collectives: a group of n ranks, consecutive members `stride` ranks apart.
double group_all_reduce_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes);
double group_reduce_scatter_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes);
double group_all_gather_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes);
// Expert-parallel token exchange: each rank sends `bytes` in all, spread evenly over the n members.
double group_all_to_all_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes);

double all_reduce_seconds(const Link& link, int64_t n, double bytes);
double reduce_scatter_seconds(const Link& link, int64_t n, double bytes);
double all_gather_seconds(const Link& link, int64_t n, double bytes);
double send_recv_seconds(const Link& link, double bytes);

}  // namespace tessera::plan

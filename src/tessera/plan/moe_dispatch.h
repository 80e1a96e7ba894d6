// Expert-parallel token dispatch: where the k routed copies of a token travel, and how long the dispatch
// (or the combine, its mirror) of one micro-batch takes on a cluster's links.
//
// The ep ranks of a group are spread over D scale-up domains (NVLink nodes, NVL72 racks), g = n/D ranks each;
// experts sit contiguously on ranks (rank r holds experts r·E/ep .. (r+1)·E/ep − 1), so each domain holds E/D
// experts. Two dispatchers, as Megatron-Core has them:
//   kAllToAll      (moe_token_dispatcher_type = "alltoall"): one NCCL all-to-all; each routed copy is its own
//                  message, so a token routed to j experts in one remote domain crosses the NIC j times:
//                  per token (n − g)/n · k copies on the scale-out link, (g − 1)/n · k on the scale-up link.
//   kDeduplicated  (the "flex" dispatcher with DeepEP; kHybridEp with HybridEP): a token is sent once to each
//                  rank holding any of its experts (DeepEP's get_dispatch_layout: is_token_in_rank), and
//                  crosses the NIC once per remote domain it is routed to, to the GPU of the same local index
//                  there, which forwards it over NVLink to the experts' GPUs (DeepSeek-V3, arXiv:2412.19437
//                  §3.2.2; DeepEP's internode kernels). Scale-out copies per token = the expected number of remote
//                  domains touched; scale-up copies = the expected ranks touched in the own domain, plus the
//                  relay's forwarding.
// Expected domains touched by one token's k experts, drawn uniformly without replacement (the benchmarks force a
// balanced router): D·(1 − C(E − E/D, k)/C(E, k)). Group-limited routing (DeepSeek-V3: 8 groups, the top 4
// groups first, then the top-k experts inside them; `router_groups`/`router_group_topk`) caps it when the
// groups tile the domains (groups % D == 0, each domain holding groups/D of them): D·(1 − C(G − G/D, Gk)/C(G, Gk)).
// Remote domains = touched · (D − 1)/D (a token's own domain is any of the D alike).
// Both links run at once (NCCL and DeepEP issue all pairs together): time = latency + max(scale-up, scale-out).
#pragma once

#include <cstdint>

#include "tessera/plan/comm_model.h"
#include "tessera/plan/job.h"

namespace tessera::plan {

// Expected distinct domains (of `domains`, each holding experts/domains experts) that a token's top_k experts
// fall in; `groups`/`group_topk` > 0 apply group-limited routing when the groups tile the domains.
double expected_domains_touched(int64_t experts, int64_t top_k, int64_t domains, int64_t groups, int64_t group_topk);

// Whether the dispatcher sends a token once per destination rank and remote domain (DeepEP, HybridEP).
bool deduplicates(ExpertDispatch dispatch);

// Permutation passes over a rank's routed copies in one forward of an MoE layer (each reads and writes C
// elements per copy; the backward repeats them on the gradients). Megatron-Core's all-to-all dispatcher
// (megatron/core/transformer/moe/token_dispatcher.py, MoEAlltoAllTokenDispatcher): permutation 1 before the
// all-to-all and its unpermutation after the combine, plus, with ep > 1 and more than one local expert,
// permutation 2 (sort_chunks_by_idxs: the received copies, grouped by source rank, sorted by local expert) and its
// inverse before the combine — 4. DeepEP (flex): permute / unpermute on the receiving rank — 2. HybridEP (flex):
// "permute tokens for communication, perform all-to-all communication, and permute tokens for experts in single
// step" (_HybridEPManager), and the combine likewise — 0 beyond the dispatch kernels themselves.
double permutation_passes(const Job& job);

// Routed copies per token that cross the scale-out link (the NIC) and the scale-up link in one dispatch over
// the job's ep group (ranks `stride` = etp apart), for the job's dispatcher.
struct DispatchCopies {
  double scaleout = 0;
  double scaleup = 0;
};
DispatchCopies dispatch_copies(const ClusterLinks& links, const Job& job);

// Seconds of one dispatch (or combine) of `tokens` tokens of `token_bytes` each from one rank.
double expert_dispatch_seconds(const ClusterLinks& links, const Job& job, double tokens, double token_bytes);

}  // namespace tessera::plan

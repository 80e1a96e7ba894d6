#include "tessera/plan/moe_dispatch.h"

#include <algorithm>

namespace tessera::plan {

namespace {
// C(total − held, draws) / C(total, draws): the chance that `draws` distinct picks from `total` miss all of
// `held` particular ones.
double chance_to_miss(double total, double held, double draws) {
  double p = 1;
  for (double i = 0; i < draws; ++i) p *= std::max(0.0, total - held - i) / (total - i);
  return p;
}
}  // namespace

double expected_domains_touched(int64_t experts, int64_t top_k, int64_t domains, int64_t groups, int64_t group_topk) {
  if (domains <= 1) return 1;
  const double D = static_cast<double>(domains), E = static_cast<double>(experts);
  const double k = static_cast<double>(std::min(top_k, experts));
  double touched = D * (1 - chance_to_miss(E, E / D, k));
  if (groups > 0 && group_topk > 0 && group_topk < groups && groups % domains == 0) {
    const double G = static_cast<double>(groups);
    touched = std::min(touched, D * (1 - chance_to_miss(G, G / D, static_cast<double>(group_topk))));
  }
  return touched;
}

bool deduplicates(ExpertDispatch dispatch) { return dispatch != ExpertDispatch::kAllToAll; }

double permutation_passes(const Job& job) {
  if (job.ep_dispatch == ExpertDispatch::kHybridEp) return 0;
  // permute (token -> its k copies, sorted by expert) and unpermute (copies -> weighted sum per token).
  double passes = 2;
  // The all-to-all dispatcher receives the copies grouped by source rank and sorts them by local expert
  // (sort_chunks_by_idxs, "permutation 2"), and unsorts them before the combine.
  const bool sorts = job.ep_dispatch == ExpertDispatch::kAllToAll && job.ep > 1 && job.model.moe_experts / job.ep > 1;
  if (sorts) passes += 2;
  return passes;
}

DispatchCopies dispatch_copies(const ClusterLinks& links, const Job& job) {
  DispatchCopies c;
  if (job.ep <= 1) return c;
  const GroupSplit g = group_split(links, job.ep, job.etp);
  const double n = static_cast<double>(job.ep), inner = static_cast<double>(g.inner);
  const double k = static_cast<double>(job.model.moe_top_k);
  // Copies for the other ranks of the token's own domain go over the scale-up link either way.
  c.scaleup = (inner - 1) / n * k;
  c.scaleout = (n - inner) / n * k;
  if (!deduplicates(job.ep_dispatch)) return c;
  // DeepEP and HybridEP send a token once to each rank that holds any of its experts (the receiver makes the
  // per-expert copies): the expected ranks touched, each rank holding E/ep experts, capped by group-limited routing
  // when the groups tile the ranks.
  const double ranks = expected_domains_touched(job.model.moe_experts, job.model.moe_top_k, job.ep,
                                                job.router_groups, job.router_group_topk);
  c.scaleup = ranks * (inner - 1) / n;
  c.scaleout = ranks * (n - inner) / n;
  if (g.domains > 1) {
    const double D = static_cast<double>(g.domains);
    const double remote = expected_domains_touched(job.model.moe_experts, job.model.moe_top_k, g.domains,
                                                   job.router_groups, job.router_group_topk) *
                          (D - 1) / D;
    // The relay GPU of each remote domain forwards the tokens meant for its neighbours over NVLink: all the
    // remote rank copies but the ones it keeps (1/inner of each domain's arrivals).
    c.scaleup += std::max(0.0, c.scaleout - remote / inner);
    c.scaleout = std::min(c.scaleout, remote);
  }
  return c;
}

double expert_dispatch_seconds(const ClusterLinks& links, const Job& job, double tokens, double token_bytes) {
  if (job.ep <= 1) return 0;
  const DispatchCopies c = dispatch_copies(links, job);
  const GroupSplit g = group_split(links, job.ep, job.etp);
  const double bytes = tokens * token_bytes;
  const double inside = c.scaleup * bytes / links.scaleup.bytes_per_s;
  const double outside = c.scaleout * bytes / links.scaleout.bytes_per_s;
  const double latency = g.domains > 1 ? links.scaleout.latency_s : links.scaleup.latency_s;
  return latency + std::max(inside, outside);
}

}  // namespace tessera::plan

#include "tessera/plan/search.h"

#include <algorithm>
#include <cmath>

#include "tessera/plan/framework.h"
#include "tessera/plan/layer_mix.h"

namespace tessera::plan {

namespace {
std::vector<int64_t> divisors_up_to(int64_t n, int64_t limit) {
  std::vector<int64_t> out;
  for (int64_t d = 1; d <= std::min(n, limit); ++d) {
    if (n % d == 0) out.push_back(d);
  }
  return out;
}
}  // namespace

StatusOr<SearchResult> search_layouts(const ModelSpec& model, const AcceleratorSpec& acc, const ClusterSpec& cluster,
                                      const SearchSpace& space, int64_t top_k) {
  TESSERA_RETURN_IF_ERROR(model.validate());
  TESSERA_RETURN_IF_ERROR(validate_layer_mix(model));
  if (space.gpus <= 0) return invalid_argument_error("search: --gpus: expected a positive count, found {}", space.gpus);
  SearchResult result;
  result.global_batch = space.global_batch;
  if (result.global_batch <= 0) {
    const double seqs = 4.0 * 1024 * 1024 / static_cast<double>(model.seq_len);
    result.global_batch = std::max<int64_t>(1, int64_t{1} << static_cast<int>(std::lround(std::log2(std::max(1.0, seqs)))));
  }
  const ClusterLinks links = cluster_links(cluster, acc);
  const AcceleratorDevice device(acc, space.gemm_format, space.precision == Precision::kFp32);
  std::vector<Candidate> kept;
  auto consider = [&](Job& job) {
    ++result.candidates;
    const ParallelPlan& p = job.plan;
    // The cheap divisibility checks of validate_job, inline: this loop runs millions of times.
    if (p.dp < 1 || p.world_size() != space.gpus || result.global_batch % (p.micro_batch * p.dp) != 0) return;
    ++result.valid;
    const MemoryBreakdown mem = estimate_memory(job, acc.hbm_gib);
    if (!mem.fits()) return;
    ++result.fit;
    Candidate c{job, predict_step(job, acc, links, device)};
    kept.push_back(std::move(c));
    if (static_cast<int64_t>(kept.size()) > 4 * top_k + 64) {
      std::nth_element(kept.begin(), kept.begin() + top_k, kept.end(),
                       [](const Candidate& a, const Candidate& b) { return a.step.tokens_per_s > b.step.tokens_per_s; });
      kept.resize(top_k);
    }
  };
  Job job;
  job.model = model;
  job.gemm_format = space.gemm_format;
  job.gemm_parts = space.gemm_parts;
  job.plan.precision = space.precision;
  job.plan.global_batch = result.global_batch;
  const int64_t tp_limit = std::max<int64_t>(1, cluster.scaleup_domain > 0 ? cluster.scaleup_domain : acc.scaleup_domain);
  for (int64_t tp : divisors_up_to(model.n_head, std::min<int64_t>(tp_limit, 64))) {
    if (model.ffn() % tp != 0 || (model.kv_heads() % tp != 0 && tp % model.kv_heads() != 0)) continue;
    for (int64_t cp : {1, 2, 4, 8, 16}) {
      if (model.seq_len % cp != 0 || space.gpus % (tp * cp) != 0) continue;
      for (int64_t pp : divisors_up_to(model.n_layer, 128)) {
        if (space.gpus % (tp * cp * pp) != 0) continue;
        // Expert parallelism (MoE models): the divisors of the experts that divide the stage's tp·cp·dp ranks.
        const int64_t stage_ranks = space.gpus / pp;
        std::vector<int64_t> eps{1};
        if (is_moe(model)) {
          eps.clear();
          for (int64_t ep : divisors_up_to(model.moe_experts, stage_ranks)) {
            if (stage_ranks % ep == 0) eps.push_back(ep);
          }
        }
        for (int64_t vpp : divisors_up_to(model.n_layer / pp, pp > 1 ? 8 : 1)) {
          for (int64_t ep : eps) {
          job.ep = ep;
          for (int64_t mbs : {1, 2, 4, 8, 16}) {
            for (int64_t zero : {0, 1, 3}) {
              for (Recompute rc : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
                ParallelPlan& p = job.plan;
                p.tp = tp, p.cp = cp, p.pp = pp, p.vpp = vpp, p.micro_batch = mbs, p.zero_stage = zero, p.recompute = rc;
                p.dp = space.gpus / (tp * cp * pp);
                p.schedule = vpp > 1 ? PipelineSchedule::kInterleaved : PipelineSchedule::kOneFOneB;
                job.memory.offload_layers = std::min(space.offload_layers, max_layers_per_stage(model.n_layer, pp));
                apply_framework(space.framework, &job);
                if (vpp > 1 && (result.global_batch / std::max<int64_t>(1, mbs * p.dp)) % pp != 0) {
                  ++result.candidates;  // interleaving needs micro-batches in multiples of pp
                  continue;
                }
                consider(job);
              }
            }
          }
          }
        }
      }
    }
  }
  std::sort(kept.begin(), kept.end(),
            [](const Candidate& a, const Candidate& b) { return a.step.tokens_per_s > b.step.tokens_per_s; });
  if (static_cast<int64_t>(kept.size()) > top_k) kept.resize(top_k);
  result.top = std::move(kept);
  return result;
}

}  // namespace tessera::plan

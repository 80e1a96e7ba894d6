#include "tessera/plan/memory_model.h"

#include <algorithm>
#include <fmt/format.h>

namespace tessera::plan {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kBufferGiB = 2.0;

double layer_params(const ModelSpec& m) {
  const double C = static_cast<double>(m.n_embd), F = static_cast<double>(m.ffn());
  const double KV = static_cast<double>(m.kv_heads() * m.head_size());
  return 2 * C * C + 2 * C * KV + (m.gated_mlp ? 3 : 2) * C * F + 4 * C;
}
}  // namespace

std::string MemoryBreakdown::verdict() const {
  return fmt::format("{}: needs {:.1f} GiB {} {:.0f} GiB (weights {:.1f}, grads {:.1f}, optimizer {:.1f}, "
                     "activations {:.1f}, logits {:.1f}, buffers {:.1f})",
                     fits() ? "fits" : "OOM", total_gib(), fits() ? "<=" : ">", capacity_gib, weights_gib,
                     gradients_gib, optimizer_gib, activations_gib, logits_gib, buffers_gib);
}

double params_per_rank(const Job& job) {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  const double layers = static_cast<double>(m.n_layer) / static_cast<double>(p.pp);
  return layers * layer_params(m) / static_cast<double>(p.tp) +
         static_cast<double>(m.vocab_size * m.n_embd) / static_cast<double>(p.tp);
}

double activation_bytes_per_layer(const Job& job) {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  const double C = static_cast<double>(m.n_embd), F = static_cast<double>(m.ffn());
  const double KV = static_cast<double>(m.kv_heads() * m.head_size());
  const double tp = static_cast<double>(p.tp);
  const double t_local = static_cast<double>(m.seq_len) / static_cast<double>(p.cp);
  const double sbh = static_cast<double>(p.micro_batch) * t_local * C;
  const bool sp = job.sequence_parallel && p.tp > 1;
  if (p.recompute == Recompute::kFull) return 2.0 * sbh / (sp ? tp : 1.0);
  // Tensors replicated across tp ranks without SP: LayerNorm inputs (4), attention/MLP block inputs (2+2),
  // dropout masks (1+1). The rest lives in tp-split matmul outputs.
  const double replicated = 4 + 2 + 2 + 1 + 1;
  const double split = 2 * (C + 2 * KV) / C + 2 + 4 * F / C * (m.gated_mlp ? 1.5 : 1.0);
  double bytes = sbh * (sp ? (replicated + split) / tp : replicated + split / tp);
  if (!job.flash_attention && p.recompute == Recompute::kNone) {
    bytes += 5.0 * static_cast<double>(m.n_head) * t_local * static_cast<double>(m.seq_len) *
             static_cast<double>(p.micro_batch) / tp;
  }
  return bytes;
}

MemoryBreakdown estimate_memory(const Job& job, double capacity_gib) {
  const ParallelPlan& p = job.plan;
  const double P = params_per_rank(job);
  // Ranks of a cp group hold the same weights, so ZeRO/FSDP shards over dp·cp (Megatron's dp-cp group,
  // torchtitan's dp_shard_cp mesh).
  const double dp = static_cast<double>(p.dp * p.cp);
  const bool fp32 = p.precision == Precision::kFp32;
  MemoryBreakdown mem;
  mem.capacity_gib = capacity_gib;
  mem.weights_gib = P * (fp32 ? 4 : 2) / (p.zero_stage >= 3 ? dp : 1) / kGiB;
  mem.gradients_gib = P * 4 / (p.zero_stage >= 2 ? dp : 1) / kGiB;
  mem.optimizer_gib = P * (fp32 ? 8 : 12) / (p.zero_stage >= 1 ? dp : 1) / kGiB;
  const double m = static_cast<double>(p.num_micro_batches());
  const double pp = static_cast<double>(p.pp);
  double in_flight = 1;
  if (p.pp > 1) {
    switch (p.schedule) {
      case PipelineSchedule::kGPipe: in_flight = m; break;
      case PipelineSchedule::kOneFOneB: in_flight = std::min(pp, m); break;
      case PipelineSchedule::kInterleaved:
        in_flight = std::min(pp, m) * (1 + (pp - 1) / (pp * static_cast<double>(p.vpp)));
        break;
    }
  }
  const double layers = static_cast<double>(job.model.n_layer) / pp;
  mem.activations_gib = activation_bytes_per_layer(job) * layers * in_flight / kGiB;
  mem.logits_gib = static_cast<double>(p.micro_batch) * static_cast<double>(job.model.seq_len) /
                   static_cast<double>(p.cp) * static_cast<double>(job.model.vocab_size) / static_cast<double>(p.tp) *
                   4 / kGiB;
  mem.buffers_gib = kBufferGiB;
  return mem;
}

}  // namespace tessera::plan

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
  const double Q = static_cast<double>(m.q_dim());
  return 2 * C * Q + 2 * C * KV + (m.gated_mlp ? 3 : 2) * C * F + 4 * C;
}
}  // namespace

std::string MemoryBreakdown::verdict() const {
  return fmt::format("{}: needs {:.1f} GiB {} {:.0f} GiB (weights {:.1f}, grads {:.1f}, optimizer {:.1f}, "
                     "activations {:.1f}, logits {:.1f}, buffers {:.1f}){}",
                     fits() ? "fits" : "OOM", total_gib(), fits() ? "<=" : ">", capacity_gib, weights_gib,
                     gradients_gib, optimizer_gib, activations_gib, logits_gib, buffers_gib,
                     stage.empty() ? "" : ", " + stage + " pipeline stage");
}

double params_per_rank(const Job& job) {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  const double layers = static_cast<double>(m.n_layer) / static_cast<double>(p.pp);
  // Vocab-parallel V·C on the first stage (embedding) and the last (LM head); one stage holds both when
  // pp = 1, twice the matrix when the head is untied.
  const double vocab_matrices = (p.pp == 1 && !m.tied_embeddings) ? 2.0 : 1.0;
  return layers * layer_params(m) / static_cast<double>(p.tp) +
         vocab_matrices * static_cast<double>(m.vocab_size * m.n_embd) / static_cast<double>(p.tp);
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
  const double Q = static_cast<double>(m.q_dim());
  const double split = 2 * (Q + 2 * KV) / C + 2 * Q / C + 4 * F / C * (m.gated_mlp ? 1.5 : 1.0);
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
  // FSDP without resharding (Llama 3's "not resharded after forward") keeps the gathered weights for the
  // whole step: ZeRO-2-like during compute, so the weights are not divided by dp.
  const bool weights_sharded = p.zero_stage >= 3 && job.reshard_per_micro_batch;
  mem.weights_gib = P * (fp32 ? 4 : 2) / (weights_sharded ? dp : 1) / kGiB;
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
  const double layer_act_gib = activation_bytes_per_layer(job) * layers / kGiB;
  const double logits_gib = static_cast<double>(p.micro_batch) * static_cast<double>(job.model.seq_len) /
                            static_cast<double>(p.cp) * static_cast<double>(job.model.vocab_size) /
                            static_cast<double>(p.tp) * 4 / kGiB;
  mem.activations_gib = layer_act_gib * in_flight;
  mem.logits_gib = logits_gib;
  mem.buffers_gib = kBufferGiB;
  if (p.pp > 1) {
    // The first stage holds the most micro-batches in flight, the last the fp32 logits: report the stage
    // that needs more (both hold one V·C matrix). The last stage keeps one micro-batch (GPipe: all m).
    const double last_in_flight = p.schedule == PipelineSchedule::kGPipe ? m : 1.0;
    const double first_act = mem.activations_gib, last_act = layer_act_gib * last_in_flight;
    if (last_act + logits_gib > first_act) {
      mem.activations_gib = last_act;
      mem.stage = "last";
    } else {
      mem.logits_gib = 0;
      mem.stage = "first";
    }
  }
  return mem;
}

}  // namespace tessera::plan

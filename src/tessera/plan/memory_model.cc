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

// One layer's activation shapes on one rank for one micro-batch: widths, and sbh = b·(t/cp)·C elements.
struct LayerActivations {
  double C, F, KV, Q;  // model width, MLP width, K/V width (kv_heads·HS), query width (NH·HS)
  double tp;
  double t_local;      // t/cp
  double sbh;
  bool sp;             // sequence parallelism splits the non-matmul tensors over tp too
};

LayerActivations layer_activations(const Job& job) {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  LayerActivations a;
  a.C = static_cast<double>(m.n_embd);
  a.F = static_cast<double>(m.ffn());
  a.KV = static_cast<double>(m.kv_heads() * m.head_size());
  a.Q = static_cast<double>(m.q_dim());
  a.tp = static_cast<double>(p.tp);
  a.t_local = static_cast<double>(m.seq_len) / static_cast<double>(p.cp);
  a.sbh = static_cast<double>(p.micro_batch) * a.t_local * a.C;
  a.sp = job.sequence_parallel && p.tp > 1;
  return a;
}

// Bytes one layer keeps for one micro-batch with nothing recomputed (the whole set backward needs); the t×t
// attention internals only when `scores` (unfused attention that is not recomputed).
double all_activation_bytes(const Job& job, bool scores) {
  const LayerActivations a = layer_activations(job);
  // Replicated across tp ranks without SP: the two norm inputs (4), the QKV and MLP inputs (4) and the two
  // dropout masks (2). The rest lives in tp-split matmul outputs.
  const double replicated = 8 + (job.memory.dropout ? 2 : 0);
  const double split = 2 * (a.Q + 2 * a.KV) / a.C + 2 * a.Q / a.C + 4 * a.F / a.C * (job.model.gated_mlp ? 1.5 : 1.0);
  double bytes = a.sbh * (a.sp ? (replicated + split) / a.tp : replicated + split / a.tp);
  // The QKV and MLP inputs (2 + 2 of `replicated`) kept whole rather than sequence-sharded.
  if (a.sp && job.memory.saves_gathered_sp_inputs) bytes += a.sbh * 4 * (1 - 1 / a.tp);
  if (scores) {
    bytes += 5.0 * static_cast<double>(job.model.n_head) * a.t_local * static_cast<double>(job.model.seq_len) *
             static_cast<double>(job.plan.micro_batch) / a.tp;
  }
  return bytes;
}

}  // namespace

MemoryBreakdown estimate_memory(const Job& job, double capacity_gib) {
  const ParallelPlan& p = job.plan;
  const MemoryTraits& traits = job.memory;
  const double P = params_per_rank(job);
  // Ranks of a cp group hold the same weights, so ZeRO/FSDP shards over dp·cp.
  const double dp = static_cast<double>(p.dp * p.cp);
  const bool fp32 = p.precision == Precision::kFp32;
  MemoryBreakdown mem;
  mem.capacity_gib = capacity_gib;
  // FSDP without resharding keeps the gathered weights for the whole step: not divided by dp.
  const bool weights_sharded = p.zero_stage >= 3 && job.reshard_per_micro_batch;
  const double weight_bytes = fp32 ? 4 : (traits.fp8_weights ? 1 : 2);
  const double grad_bytes = fp32 ? 4 : traits.gradient_bytes;
  const bool grads_sharded = p.zero_stage >= 2 && !traits.unsharded_gradient_accumulation;
  mem.weights_gib = P * weight_bytes / (weights_sharded ? dp : 1) / kGiB;
  mem.gradients_gib = P * (traits.unsharded_gradient_accumulation ? 4 : grad_bytes) / (grads_sharded ? dp : 1) / kGiB;
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
  const double kept_layers = std::max(0.0, layers - static_cast<double>(traits.offload_layers));
  const double stored = activation_bytes_per_layer(job) / kGiB;
  const double whole = all_activation_bytes(job, !job.flash_attention) / kGiB;
  // Backward of a recomputed or offloaded layer rebuilds its whole set first.
  const double rebuilt = (whole > stored || traits.offload_layers > 0) ? whole : 0;
  const double logits_gib = static_cast<double>(p.micro_batch) * static_cast<double>(job.model.seq_len) /
                            static_cast<double>(p.cp) * static_cast<double>(job.model.vocab_size) /
                            static_cast<double>(p.tp) * traits.loss_bytes_per_logit / kGiB;
  mem.activations_gib = stored * kept_layers * in_flight + rebuilt;
  mem.logits_gib = logits_gib;
  if (p.pp > 1) {
    // The first stage holds the most micro-batches in flight, the last the logits: report the stage that
    // needs more (both hold one V·C matrix). The last stage keeps one micro-batch (GPipe: all m).
    const double last_in_flight = p.schedule == PipelineSchedule::kGPipe ? m : 1.0;
    const double first_act = mem.activations_gib, last_act = stored * kept_layers * last_in_flight + rebuilt;
    if (last_act + logits_gib > first_act) {
      mem.activations_gib = last_act;
      mem.stage = "last";
    } else {
      mem.logits_gib = 0;
      mem.stage = "first";
    }
  }
  mem.buffers_gib = kBufferGiB;
  if (weights_sharded) {
    // FSDP: the layer being computed and the prefetched one, gathered, plus one layer's unreduced gradients.
    const double layer = layer_params(job.model) / static_cast<double>(p.tp);
    mem.buffers_gib += layer * (2 * weight_bytes + grad_bytes) / kGiB;
  }
  return mem;
}

const char* memory_band_name(MemoryBand band) {
  switch (band) {
    case MemoryBand::kFits: return "fits";
    case MemoryBand::kTight: return "tight";
    case MemoryBand::kOom: return "OOM";
  }
  return "OOM";
}

MemoryBand MemoryBreakdown::band() const {
  if (total_gib() <= kFitsFraction * capacity_gib) return MemoryBand::kFits;
  return clearly_oom() ? MemoryBand::kOom : MemoryBand::kTight;
}

std::string MemoryBreakdown::verdict() const {
  return fmt::format("{}: needs {:.1f} GiB of {:.0f} GiB ({:.0f}%; weights {:.1f}, grads {:.1f}, optimizer {:.1f}, "
                     "activations {:.1f}, logits {:.1f}, buffers {:.1f}){}",
                     memory_band_name(band()), total_gib(), capacity_gib, capacity_gib > 0 ? 100 * total_gib() / capacity_gib : 0,
                     weights_gib, gradients_gib, optimizer_gib, activations_gib, logits_gib, buffers_gib,
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
  const LayerActivations a = layer_activations(job);
  const double input = 2 * a.sbh / (a.sp ? a.tp : 1.0);  // the layer's input, bf16
  switch (job.plan.recompute) {
    case Recompute::kFull:
      return input;
    case Recompute::kSelective:
      if (job.memory.selective == SelectivePolicy::kEveryOtherMatmul) {
        // Matmuls in order q, k, v, o, then gate, up, down (gated) or fc1, fc2: the odd-numbered outputs are
        // kept (q, v, and gate + down or fc1), plus the attention output.
        const double kept = 2 * a.Q / a.C + 2 * a.KV / a.C + 2 * a.F / a.C + (job.model.gated_mlp ? 2 : 0) +
                            2 * a.Q / a.C;
        return input + a.sbh * kept / a.tp;
      }
      // Megatron's selective recompute only drops the t×t attention internals.
      return all_activation_bytes(job, /*scores=*/false);
    case Recompute::kNone:
      break;
  }
  return all_activation_bytes(job, !job.flash_attention);
}

int64_t min_offload_layers_to_fit(const Job& job, double capacity_gib) {
  Job trial = job;
  for (int64_t n = job.memory.offload_layers; n <= max_layers_per_stage(job.model.n_layer, job.plan.pp); ++n) {
    trial.memory.offload_layers = n;
    if (estimate_memory(trial, capacity_gib).fits()) return n;
  }
  return -1;
}

}  // namespace tessera::plan

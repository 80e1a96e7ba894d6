#include "tessera/plan/report.h"

#include <fmt/format.h>

#include "tessera/plan/layer_mix.h"
#include "tessera/plan/recompute_modules.h"

namespace tessera::plan {

namespace {
std::string percent_or_dash(double fraction) { return fraction < 0 ? "   -  " : fmt::format("{:5.1f}%", 100 * fraction); }
std::string stats_line(const char* what, const ErrorStats& s) {
  if (s.count == 0) return fmt::format("  {:<28} n={:<4} median {:>6}   p90 {:>6}\n", what, s.count, "-", "-");
  return fmt::format("  {:<28} n={:<4} median {:5.1f}%   p90 {:5.1f}%\n", what, s.count, 100 * s.median, 100 * s.p90);
}
nlohmann::json stats_json(const ErrorStats& s) {
  if (s.count == 0) return {{"count", 0}, {"median_percent", nullptr}, {"p90_percent", nullptr}};
  return {{"count", s.count}, {"median_percent", 100 * s.median}, {"p90_percent", 100 * s.p90}};
}
// Where a step's time goes (seconds per step; the offload entry is per micro-batch), for the plan and each validated row.
nlohmann::json breakdown_json(const StepPrediction& s) {
  return {{"compute", s.compute_s},     {"tp_comm", s.tp_comm_s},        {"cp_comm", s.cp_comm_s},
          {"ep_comm", s.ep_comm_s},     {"moe_host_wait", s.host_wait_s}, {"pp_comm", s.pp_comm_s},
          {"bubble", s.bubble_s},       {"dp_comm_exposed", s.dp_comm_s}, {"dp_comm_total", s.dp_comm_total_s},
          {"optimizer", s.optimizer_s}, {"offload_per_micro_batch", s.offload_s}};
}

}  // namespace

std::string format_plan_report(const PlanReport& r) {
  const ParallelPlan& p = r.job.plan;
  const StepPrediction& s = r.step;
  const MemoryBreakdown& m = s.memory;
  std::string out;
  out += fmt::format("tessera plan: {} on {} × {} ({})\n", r.model_name, p.world_size(), r.accelerator.name,
                     r.cluster_name);
  const ModelSpec& mo = r.job.model;
  std::string kinds;
  if (is_moe(mo)) {
    kinds += fmt::format(" MoE {}×{} top-{}{}{}", mo.moe_experts, mo.moe_ffn_hidden, mo.moe_top_k,
                         mo.moe_latent_size > 0 ? fmt::format(" in latent {}", mo.moe_latent_size) : "",
                         mo.moe_shared_ffn_hidden > 0 ? fmt::format(" +shared {}", mo.moe_shared_ffn_hidden) : "");
  }
  if (is_mla(mo)) kinds += fmt::format(" MLA(kv {})", mo.mla_kv_lora_rank);
  if (mo.window_layers > 0) kinds += fmt::format(" window {}×{}", mo.window_layers, mo.attention_window);
  if (mo.mamba_layers > 0) kinds += fmt::format(" Mamba-2 ×{}", mo.mamba_layers);
  if (mo.mtp_layers > 0) kinds += fmt::format(" MTP ×{}{}", mo.mtp_layers, mo.mtp_shared_weights ? " (one block repeated)" : "");
  const double flops_per_token =
      step_flops(mo, mo.seq_len, 1, FlopConvention::kModelFull, Recompute::kNone) / static_cast<double>(mo.seq_len);
  out += fmt::format("  model     L={} C={} heads={} kv={} F={}{}{} T={} V={}: {:.2f}B params{}, {:.3g} model FLOP/token\n",
                     mo.n_layer, mo.n_embd, mo.n_head, mo.kv_heads(), mo.ffn(), mo.gated_mlp ? " (gated)" : "", kinds,
                     mo.seq_len, mo.vocab_size, total_params(mo) / 1e9,
                     is_moe(mo) ? fmt::format(" ({:.2f}B active)", active_matmul_params(mo) / 1e9) : "", flops_per_token);
  out += fmt::format("  layout    dp={} tp={} pp={} cp={} vpp={} micro_batch={} global_batch={} ({} micro-batches) "
                     "zero={} recompute={}{} {} gemm={} framework={}{}{}\n",
                     p.dp, p.tp, p.pp, p.cp, p.vpp, p.micro_batch, p.resolved_global_batch(), p.num_micro_batches(),
                     p.zero_stage, recompute_name(p.recompute),
                     recompute_modules_name(r.job.memory).empty()
                         ? ""
                         : fmt::format(" (modules {})", recompute_modules_name(r.job.memory)),
                     pipeline_schedule_name(p.schedule),
                     gemm_format_name(r.job.gemm_format) +
                         (r.job.gemm_parts.empty() ? std::string()
                                                   : fmt::format(" (parts {})", gemm_parts_string(r.job.gemm_parts))),
                     framework_name(r.job.framework),
                     r.job.memory.offload_layers > 0 ? fmt::format(" offload={} layers", r.job.memory.offload_layers) : "",
                     is_moe(mo) ? fmt::format(" ep={} etp={} expert_imbalance={:.2f} capacity_factor={}", r.job.ep,
                                              r.job.etp, r.job.expert_imbalance,
                                              r.job.capacity_factor > 0
                                                  ? fmt::format("{:.2f}{}{}", r.job.capacity_factor,
                                                                r.job.pad_to_capacity ? " padded" : "",
                                                                r.job.moe_cuda_graph ? " (CUDA graph)" : "")
                                                  : std::string("dropless")) +
                                                (r.job.full_iteration_graph ? " full-iteration CUDA graph" : "")
                                : "");
  out += fmt::format("  step      {:.3f} s   {:.0f} tokens/s   {:.0f} TFLOP/s/GPU (model)   MFU {:.1f}%   HFU {:.1f}%{}\n",
                     s.step_time_s, s.tokens_per_s, s.tflops_per_gpu, 100 * s.mfu, 100 * s.hfu,
                     r.job.gemm_format == GemmFormat::kBf16
                         ? std::string()
                         : fmt::format("   MFU at the {} peak {:.1f}%", gemm_format_name(r.job.gemm_format),
                                       100 * s.mfu_format_peak));
  if (r.distribution.p50_s > 0) {
    out += fmt::format("  steps     p50 {:.3f} s, p90 {:.3f} s across steps ({} ranks in lock-step, per-rank jitter {:.1f}%: "
                       "the slowest rank sets each step)\n",
                       r.distribution.p50_s, r.distribution.p90_s, p.world_size(), 100 * r.step_jitter);
  }
  out += fmt::format("  breakdown compute {:.3f} s, tp comm {:.3f} s{}, cp comm {:.3f} s, ep all-to-all {:.3f} s, MoE host wait {:.3f} s, pp comm {:.3f} s, bubble {:.3f} s "
                     "({:.1f}%), dp comm exposed {:.3f} s of {:.3f} s{}, optimizer {:.3f} s{}\n",
                     s.compute_s, s.tp_comm_s, s.tp_crosses_scaleout ? " (crosses scale-out!)" : "", s.cp_comm_s,
                     s.ep_comm_s, s.host_wait_s, s.pp_comm_s, s.bubble_s, 100 * s.bubble_fraction, s.dp_comm_s, s.dp_comm_total_s,
                     s.dp_crosses_scaleout ? " (scale-out)" : " (scale-up)", s.optimizer_s,
                     s.offload_s > 0 ? fmt::format(", offload exposed {:.3f} s per micro-batch", s.offload_s) : "");
  out += fmt::format("  memory    {}\n", m.verdict());
  if (r.offload_layers_to_fit > 0) {
    out += fmt::format("            fits with --offload-layers {} (activations of that many layers per stage in host "
                       "memory); recompute or more tp/pp would also help\n",
                       r.offload_layers_to_fit);
  } else if (r.offload_layers_to_fit < 0) {
    out += "            does not fit even with every layer's activations offloaded: shard the weights, gradients "
           "and optimizer (ZeRO/FSDP, tp, pp) or use more accelerators\n";
  }
  if (r.token_budget > 0) {
    out += fmt::format("  budget    {:.3g} tokens: {:.1f} days, {:.0f} GPU-hours, IT {:.0f} kW, facility {:.0f} kW (PUE {:.2f}), "
                       "{:.1f} MWh, ${:.3g} rental + ${:.3g} energy\n",
                       r.token_budget, r.power.train_hours / 24, r.power.accelerator_hours, r.power.it_power_kw,
                       r.power.facility_power_kw, r.cluster.pue, r.power.energy_mwh, r.power.rental_cost_usd,
                       r.power.energy_cost_usd);
    out += fmt::format("  failures  MTBF {:.2f} h for {} accelerators, {:.1f} expected interruptions; checkpoint write {:.0f} s "
                       "→ Young/Daly interval {:.0f} s; goodput {:.1f}%\n",
                       r.reliability.mtbf_hours, p.world_size(), r.with_failures.expected_interruptions,
                       r.checkpoint_write_s, r.reliability.checkpoint_interval_s, 100 * r.reliability.goodput);
    out += fmt::format("  to train  {:.1f} days, ${:.3g} rental + ${:.3g} energy with failures (ideal {:.1f} days, ${:.3g} + "
                       "${:.3g}; {:.0f} h lost to checkpoints, restarts and redone work)\n",
                       r.with_failures.wall_hours / 24, r.with_failures.rental_cost_usd, r.with_failures.energy_cost_usd,
                       r.power.train_hours / 24, r.power.rental_cost_usd, r.power.energy_cost_usd,
                       r.with_failures.lost_hours);
  }
  return out;
}

nlohmann::json plan_report_json(const PlanReport& r) {
  const ParallelPlan& p = r.job.plan;
  const StepPrediction& s = r.step;
  const MemoryBreakdown& m = s.memory;
  nlohmann::json j;
  j["model"] = r.model_name;
  j["cluster"] = r.cluster_name;
  j["accelerator"] = r.accelerator.name;
  j["gpus"] = p.world_size();
  j["layout"] = {{"dp", p.dp}, {"tp", p.tp}, {"pp", p.pp}, {"cp", p.cp}, {"vpp", p.vpp},
                 {"micro_batch", p.micro_batch}, {"global_batch", p.resolved_global_batch()},
                 {"micro_batches", p.num_micro_batches()}, {"zero_stage", p.zero_stage},
                 {"recompute", recompute_name(p.recompute)}, {"recompute_modules", recompute_modules_name(r.job.memory)},
                 {"schedule", pipeline_schedule_name(p.schedule)},
                 {"gemm_format", gemm_format_name(r.job.gemm_format)},
                 {"gemm_parts", gemm_parts_string(r.job.gemm_parts)},
                 {"framework", framework_name(r.job.framework)}, {"offload_layers", r.job.memory.offload_layers},
                 {"ep", r.job.ep}, {"etp", r.job.etp},
                 {"ep_dispatcher", r.job.ep_dispatch == ExpertDispatch::kDeduplicated ? "dedup"
                                  : r.job.ep_dispatch == ExpertDispatch::kHybridEp   ? "hybridep"
                                                                                     : "alltoall"},
                 {"ep_overlap", r.job.ep_overlap}, {"pad_to_capacity", r.job.pad_to_capacity},
                 {"moe_cuda_graph", r.job.moe_cuda_graph}, {"full_iteration_graph", r.job.full_iteration_graph},
                 {"cp_mode", r.job.cp_mode == ContextParallel::kRing ? "ring" : "ulysses"}};
  j["params"] = {{"total", total_params(r.job.model)}, {"active_matmul", active_matmul_params(r.job.model)}};
  j["step_time_s"] = s.step_time_s;
  j["tokens_per_sec"] = s.tokens_per_s;
  j["tflops_per_gpu"] = s.tflops_per_gpu;
  j["mfu_percent"] = 100 * s.mfu;
  j["mfu_format_peak_percent"] = 100 * s.mfu_format_peak;
  j["hfu_percent"] = 100 * s.hfu;
  j["breakdown_s"] = breakdown_json(s);
  j["bubble_fraction"] = s.bubble_fraction;
  j["step_time_p50_s"] = r.distribution.p50_s;
  j["step_time_p90_s"] = r.distribution.p90_s;
  j["step_jitter"] = r.step_jitter;
  j["memory_gib"] = {{"weights", m.weights_gib}, {"gradients", m.gradients_gib}, {"optimizer", m.optimizer_gib},
                     {"activations", m.activations_gib}, {"logits", m.logits_gib}, {"buffers", m.buffers_gib},
                     {"total", m.total_gib()}, {"capacity", m.capacity_gib}, {"fits", m.fits()},
                     {"band", memory_band_name(m.band())}, {"offload_layers_to_fit", r.offload_layers_to_fit}};
  if (r.token_budget > 0) {
    j["budget"] = {{"tokens", r.token_budget}, {"train_hours", r.power.train_hours},
                   {"accelerator_hours", r.power.accelerator_hours}, {"it_power_kw", r.power.it_power_kw},
                   {"facility_power_kw", r.power.facility_power_kw}, {"energy_mwh", r.power.energy_mwh},
                   {"rental_cost_usd", r.power.rental_cost_usd}, {"energy_cost_usd", r.power.energy_cost_usd}};
    j["reliability"] = {{"mtbf_hours", r.reliability.mtbf_hours},
                        {"expected_interruptions", r.reliability.expected_interruptions},
                        {"checkpoint_write_s", r.checkpoint_write_s},
                        {"checkpoint_interval_s", r.reliability.checkpoint_interval_s},
                        {"goodput", r.reliability.goodput}};
    j["with_failures"] = {{"train_hours", r.with_failures.wall_hours},
                          {"accelerator_hours", r.with_failures.accelerator_hours},
                          {"energy_mwh", r.with_failures.energy_mwh},
                          {"rental_cost_usd", r.with_failures.rental_cost_usd},
                          {"energy_cost_usd", r.with_failures.energy_cost_usd},
                          {"expected_interruptions", r.with_failures.expected_interruptions},
                          {"lost_hours", r.with_failures.lost_hours}};
  }
  return j;
}

std::string format_validation(const std::vector<RunPrediction>& predictions, const ValidationSummary& s) {
  std::string out;
  for (const auto& p : predictions) {
    const PublishedRun& r = p.run;
    if (!r.skip_reason.empty()) {
      out += fmt::format("row {:3d}  {:<24.24} skipped: {}\n", r.row, r.model_name, r.skip_reason);
      continue;
    }
    const double pub_time = r.step_time_s > 0 ? r.step_time_s
                            : r.tokens_per_s > 0 ? r.job.plan.resolved_global_batch() * r.job.model.seq_len / r.tokens_per_s
                                                 : 0;
    out += fmt::format("row {:3d}  {:<24.24} {:<8.8} {:5d} gpus {:<4} | step {:8.3f} s (pub {:8.3f}) err {} | "
                       "TFLOP/s {:6.0f} (pub {:6.0f}) MFU {:5.1f}% (pub {:5.1f}) err {} | {:5.1f} GiB {}{}{} [{}{}]\n",
                       r.row, r.model_name, r.accelerator.name, r.gpus, gemm_format_name(r.job.gemm_format),
                       p.step.step_time_s, pub_time, percent_or_dash(p.time_error), p.tflops_per_gpu, r.tflops_per_gpu,
                       p.mfu_percent, r.mfu_percent, percent_or_dash(p.tflops_error), p.step.memory.total_gib(),
                       memory_band_name(p.step.memory.band()),
                       p.assumed_offload_layers > 0 ? fmt::format(" (offload {} layers assumed)", p.assumed_offload_layers)
                       : r.recipe_offload_layers > 0 ? fmt::format(" (offload {} layers, recipe)", r.recipe_offload_layers)
                                                     : "",
                       r.peak_memory_gib > 0 ? fmt::format(" (measured {:.1f}, {:+.0f}%)", r.peak_memory_gib, 100 * p.memory_error) : "",
                       flop_convention_name(r.convention), r.fit_half ? ", fit" : ", held-out");
  }
  out += fmt::format("\n{} rows: {} predicted, {} skipped. Absolute % error (time = step time or tokens/s; "
                     "TFLOP/s = per GPU or MFU in the row's FLOP convention):\n",
                     s.rows, s.predicted, s.skipped);
  out += stats_line("step time, all", s.time_all);
  out += stats_line("TFLOP/s/GPU, all", s.tflops_all);
  out += stats_line("step time, fit half", s.time_fit);
  out += stats_line("TFLOP/s/GPU, fit half", s.tflops_fit);
  out += stats_line("step time, held-out", s.time_held_out);
  out += stats_line("TFLOP/s/GPU, held-out", s.tflops_held_out);
  out += stats_line("step time, MoE all", s.time_moe);
  out += stats_line("TFLOP/s/GPU, MoE all", s.tflops_moe);
  out += stats_line("step time, MoE held-out", s.time_moe_held_out);
  out += stats_line("TFLOP/s/GPU, MoE held-out", s.tflops_moe_held_out);
  out += stats_line("step time, dense held-out", s.time_dense_held_out);
  out += stats_line("TFLOP/s/GPU, dense held-out", s.tflops_dense_held_out);
  out += fmt::format("Memory (every predicted row ran): {} fit, {} tight (90-110% of capacity), {} OOM; {} fit only with "
                     "offload the row does not state\n",
                     s.memory_fits, s.memory_tight, s.memory_oom, s.memory_offload_assumed);
  if (s.memory_error.count > 0) {
    out += fmt::format("  memory vs measured peak  n={:<4} median {:5.1f}%   p90 {:5.1f}%   max {:5.1f}%\n",
                       s.memory_error.count, 100 * s.memory_error.median, 100 * s.memory_error.p90,
                       100 * s.memory_error_max);
  }
  return out;
}

nlohmann::json validation_row_json(const RunPrediction& p) {
  nlohmann::json j;
  j["row"] = p.run.row;
  j["model"] = p.run.model_name;
  if (!p.run.skip_reason.empty()) {
    j["skipped"] = p.run.skip_reason;
    for (const char* k : {"step_time_s", "tflops_per_gpu", "mfu_percent", "tokens_per_sec", "memory_gib_per_gpu"}) {
      j[k] = nullptr;
    }
    return j;
  }
  j["step_time_s"] = p.step.step_time_s;
  j["tflops_per_gpu"] = p.tflops_per_gpu;
  j["mfu_percent"] = p.mfu_percent;
  j["tokens_per_sec"] = p.step.tokens_per_s;
  j["memory_gib_per_gpu"] = p.step.memory.total_gib();
  j["memory_band"] = memory_band_name(p.step.memory.band());
  j["assumed_offload_layers"] = p.assumed_offload_layers;
  j["memory_error_percent"] = p.memory_error > -1 ? nlohmann::json(100 * p.memory_error) : nlohmann::json(nullptr);
  j["framework"] = framework_name(p.run.job.framework);
  j["flop_convention"] = flop_convention_name(p.run.convention);
  j["accelerator"] = p.run.accelerator.name;
  j["split"] = p.run.fit_half ? "fit" : "held-out";
  j["config"] = p.run.config_key();  // equal keys: the same configuration (held-out repeats of a fit row)
  j["breakdown_s"] = breakdown_json(p.step);
  j["time_error_percent"] = p.time_error < 0 ? nlohmann::json(nullptr) : nlohmann::json(100 * p.time_error);
  j["tflops_error_percent"] = p.tflops_error < 0 ? nlohmann::json(nullptr) : nlohmann::json(100 * p.tflops_error);
  return j;
}

nlohmann::json validation_summary_json(const ValidationSummary& s) {
  return {{"summary", true}, {"rows", s.rows}, {"predicted", s.predicted}, {"skipped", s.skipped},
          {"held_out_duplicates", s.held_out_duplicates},
          {"step_time", stats_json(s.time_all)}, {"tflops_per_gpu", stats_json(s.tflops_all)},
          {"step_time_fit", stats_json(s.time_fit)}, {"tflops_per_gpu_fit", stats_json(s.tflops_fit)},
          {"step_time_held_out", stats_json(s.time_held_out)}, {"tflops_per_gpu_held_out", stats_json(s.tflops_held_out)},
          {"step_time_moe", stats_json(s.time_moe)}, {"tflops_per_gpu_moe", stats_json(s.tflops_moe)},
          {"step_time_moe_held_out", stats_json(s.time_moe_held_out)},
          {"tflops_per_gpu_moe_held_out", stats_json(s.tflops_moe_held_out)},
          {"step_time_dense_held_out", stats_json(s.time_dense_held_out)},
          {"tflops_per_gpu_dense_held_out", stats_json(s.tflops_dense_held_out)},
          {"memory", {{"fits", s.memory_fits}, {"tight", s.memory_tight}, {"oom", s.memory_oom},
                      {"offload_assumed", s.memory_offload_assumed}, {"error_vs_measured", stats_json(s.memory_error)},
                      {"error_vs_measured_max_percent", 100 * s.memory_error_max}}}};
}

}  // namespace tessera::plan

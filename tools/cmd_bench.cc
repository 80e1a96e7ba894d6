// tessera bench train CONFIG.toml [--steps N] [--warmup N] [--threads N] [--set k=v]... [--json]
//   Trains the config's model shape on random token ids (no data needed) through the real Trainer step and
//   prints median tokens/s, model FLOP/s, MFU and peak RSS.
// tessera bench kernels [--threads N] [--json]
//   Probes this machine: the fast backend's matmul rate on transformer shapes and memory bandwidth (the
//   input of `tessera plan calibrate`).
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli_checks.h"
#include "commands.h"
#include "tessera/kernels/kernel_probe.h"
#include "tessera/train/mfu_peak.h"
#include "tessera/train/trainer.h"

namespace tessera::tools {

namespace {

struct BenchTrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  int64_t steps = 5;
  int64_t warmup = 1;
  int64_t threads = 0;
  bool json = false;
  std::string trace;  // --trace FILE: a Chrome/Perfetto trace per rank of the warm-up and timed steps
};

double peak_rss_mib() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

Status bench_train(const BenchTrainArgs& args, CommandResult& result) {
  std::vector<std::string> overrides = args.overrides;
  overrides.push_back("train.steps=" + std::to_string(args.steps + args.warmup));
  if (args.threads > 0) overrides.push_back("train.threads=" + std::to_string(args.threads));
  TESSERA_ASSIGN_OR_RETURN(TrainConfig config, load_train_config(args.config, overrides));
  TESSERA_ASSIGN_OR_RETURN(ProcessGrid grid, make_process_grid(result, config.parallel));
  const int world = grid.world_size();
  const bool rank0 = grid.rank() == 0;
  TESSERA_ASSIGN_OR_RETURN(auto trainer,
                           Trainer::create(config, {.random_data = true, .show_progress = false, .trace_path = args.trace},
                                           std::move(grid)));
  std::vector<double> seconds, exposed, bubbles;
  int64_t comm_bytes = 0;
  double mfu_sum = 0;
  for (int64_t i = 0; i < args.warmup + args.steps; ++i) {
    TESSERA_ASSIGN_OR_RETURN(StepMetrics m, trainer->step());
    if (i < args.warmup) continue;
    seconds.push_back(m.step_seconds);
    exposed.push_back(m.comm_exposed_s);
    if (m.pipeline_bubble) bubbles.push_back(*m.pipeline_bubble);
    comm_bytes = m.comm_bytes;
    mfu_sum += m.mfu;
    if (!args.json && rank0) std::fprintf(stderr, "  step %ld: %.3f s, loss %.4f\n", long(m.step), m.step_seconds, m.loss);
  }
  const double step_time = median(seconds);
  const double tokens_per_s = static_cast<double>(config.tokens_per_step()) / step_time;
  const double flops_per_s = tokens_per_s * config.model.train_flops_per_token(config.model.seq_len);
  const int threads = kernel_threads();
  // The start-up probe is short (~40 ms), and on a shared host the cores' FMA units can be contended for
  // seconds at a time (seen: a probe at half the peak, so MFU 144%). Probed again after the timed steps; the
  // larger of the two is the machine's peak. A configured peak comes back unchanged.
  MfuPeak mfu_peak = trainer->mfu_peak();
  TESSERA_ASSIGN_OR_RETURN(const MfuPeak end_probe, resolve_mfu_peak(config, threads, trainer->grid().world()));
  if (end_probe.gflops > mfu_peak.gflops) mfu_peak = end_probe;
  if (mfu_peak.source.starts_with("probed")) mfu_peak.source += ", the larger of the start-up and end probes";
  const double peak = mfu_peak.gflops * 1e9;
  const ModelSpec& s = config.model;
  // Memory: the largest peak RSS of any rank, against what each rank was predicted to hold.
  // (Pipeline stages hold different shares: the prediction is the largest rank's too.)
  double largest[2] = {peak_rss_mib(), trainer->memory_report().total() / (1 << 20)};
  if (world > 1) TESSERA_RETURN_IF_ERROR(trainer->grid().world().all_reduce(largest, 2, ReduceOp::kMax));
  const double rss_max = largest[0];
  nlohmann::json out = {{"config", args.config},
                        {"backend", config.backend},
                        {"precision", precision_name(config.parallel.precision)},
                        {"threads", threads},
                        {"n_layer", s.n_layer}, {"n_head", s.n_head}, {"n_embd", s.n_embd},
                        {"seq_len", s.seq_len}, {"vocab_size", s.vocab_size},
                        {"batch_size", config.parallel.resolved_global_batch()},
                        {"world_size", world},
                        {"params", config.model.num_params()},
                        {"steps", args.steps}, {"warmup", args.warmup},
                        {"step_time_s", step_time},
                        {"step_times_s", seconds},
                        {"tokens_per_s", tokens_per_s},
                        {"tokens_per_s_min", static_cast<double>(config.tokens_per_step()) / *std::max_element(seconds.begin(), seconds.end())},
                        {"tokens_per_s_max", static_cast<double>(config.tokens_per_step()) / *std::min_element(seconds.begin(), seconds.end())},
                        {"model_flops_per_s", flops_per_s},
                        {"flops_per_token", s.train_flops_per_token(s.seq_len)},
                        {"peak_flops_per_s", peak},
                        {"peak_source", mfu_peak.source},
                        {"mfu", flops_per_s / peak},
                        {"peak_rss_mib", peak_rss_mib()},
                        {"peak_rss_mib_max_rank", rss_max},
                        {"predicted_memory_mib", trainer->memory_report().total() / (1 << 20)},
                        {"predicted_memory_mib_max_rank", largest[1]},
                        {"dp", config.parallel.dp},
                        {"pp", config.parallel.pp},
                        {"tp", config.parallel.tp},
                        {"vpp", config.parallel.vpp},
                        {"sequence_parallel", config.parallel.sequence_parallel},
                        {"schedule", pipeline_schedule_name(config.parallel.schedule)},
                        {"micro_batches", config.parallel.num_micro_batches()},
                        {"zero_stage", config.parallel.zero_stage},
                        {"overlap_comm", config.parallel.overlap_comm},
                        {"comm_exposed_s", median(exposed)},
                        {"comm_bytes_per_step", comm_bytes}};
  if (!bubbles.empty()) out["pipeline_bubble"] = median(bubbles);
  if (!rank0) return Status();
  if (args.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("bench train %s (%s): %.1f tok/s median (min %.1f, max %.1f) over %ld steps, step %.3f s\n",
                args.config.c_str(), precision_name(config.parallel.precision), tokens_per_s, out["tokens_per_s_min"].get<double>(),
                out["tokens_per_s_max"].get<double>(), long(args.steps), step_time);
    std::printf("  model %.1f GFLOP/s = MFU %.1f%% of %.0f GFLOP/s (%s); peak RSS %.0f MiB (largest rank; predicted "
                "%.0f MiB per rank, with the program's own footprint at start)\n",
                flops_per_s / 1e9, 100.0 * flops_per_s / peak, peak / 1e9, mfu_peak.source.c_str(), rss_max,
                trainer->memory_report().total() / (1 << 20));
    if (world > 1) {
      std::printf("  dp %ld, ZeRO-%ld, overlap %s: communication exposed %.1f ms per step (median), %.1f MiB per step\n",
                  long(config.parallel.dp), long(config.parallel.zero_stage), config.parallel.overlap_comm ? "on" : "off",
                  1e3 * median(exposed), static_cast<double>(comm_bytes) / (1 << 20));
    }
  }
  return Status();
}

}  // namespace

void register_bench_comm_command(CLI::App& bench, CommandResult& result);  // tools/cmd_bench_comm.cc
void register_bench_command(CLI::App& app, CommandResult& result) {
  CLI::App* bench = app.add_subcommand("bench", "micro and end-to-end benchmarks");
  bench->require_subcommand(1);
  register_bench_comm_command(*bench, result);

  auto train = std::make_shared<BenchTrainArgs>();
  CLI::App* cmd = bench->add_subcommand("train", "train the config's shape on random tokens; report tokens/s, MFU, RSS");
  cmd->add_option("config", train->config, "config file (e.g. configs/small.toml)")->required();
  cmd->add_option("--steps", train->steps, "timed steps")->check(positive_integer());
  cmd->add_option("--warmup", train->warmup, "untimed steps first")->check(non_negative_integer());
  cmd->add_option("--threads", train->threads, "kernel threads (0 = all cores)")->check(non_negative_integer());
  cmd->add_option("--set", train->overrides, "override a config key (repeatable)");
  cmd->add_flag("--json", train->json, "print one JSON object");
  cmd->add_option("--trace", train->trace, "write a Chrome/Perfetto trace per rank (FILE, or FILE.rank<r>.json)");
  cmd->callback([train, &result] {
    const Status status = bench_train(*train, result);
    result.exit_code = status.ok() ? 0 : report_error("bench train", status.message());
  });

  struct KernelArgs {
    int64_t threads = 0;
    double seconds = 0.3;
    bool json = false;
  };
  auto kernels = std::make_shared<KernelArgs>();
  CLI::App* probe = bench->add_subcommand("kernels", "probe matmul rates and memory bandwidth of this machine");
  probe->add_option("--threads", kernels->threads, "threads (0 = all cores)")->check(non_negative_integer());
  probe->add_option("--seconds", kernels->seconds, "seconds per measured point")->check(number_in(1e-3, 3600));
  probe->add_flag("--json", kernels->json, "print one JSON object");
  probe->callback([kernels, &result] {
    set_kernel_threads(static_cast<int>(kernels->threads));
    auto backend = make_kernel_backend("fast");
    if (!backend.ok()) {
      result.exit_code = report_error("bench kernels", backend.status().message());
      return;
    }
    const MachineProbe probe_result = probe_machine(**backend, kernel_threads(), kernels->seconds);
    std::printf("%s\n", machine_probe_to_json(probe_result).c_str());
    result.exit_code = 0;
  });
}

}  // namespace tessera::tools

// tessera plan: predict a training job on a cluster (step time, memory, MFU, power, cost, reliability),
// search layouts, validate against published runs and calibrate against this machine's measurements.
// The model lives in src/tessera/plan; this file only parses the command line and prints.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli_checks.h"
#include "commands.h"
#include "tessera/plan/calibrate.h"
#include "tessera/plan/catalog.h"
#include "tessera/plan/framework.h"
#include "tessera/plan/pipeline_sim.h"
#include "tessera/plan/recompute_modules.h"
#include "tessera/plan/report.h"
#include "tessera/plan/search.h"
#include "tessera/plan/validate.h"
#include "tessera/spec/config_reader.h"

namespace tessera::tools {

namespace {

using namespace tessera::plan;

struct PlanArgs {
  std::string catalog_dir;
  std::string model = "gpt3-175b";
  std::string cluster = "dgx-h100-superpod";
  int64_t gpus = 0;
  int64_t tp = 0, pp = 0, dp = 0, cp = 0, vpp = 0, micro_batch = 0, global_batch = 0, zero = -1, seq_len = 0;
  std::string recompute, precision, schedule;
  std::string gemm_parts;            // parts in another GEMM format than --precision (plan/gemm_parts.h); "" = none
  std::string recompute_modules;     // Megatron-Core's --recompute-modules list (recompute_modules.h); "" = none
  std::string framework = "generic";
  int64_t offload_layers = 0;
  int64_t ep = 0, etp = 0;           // expert (tensor) parallelism; 0 = 1
  std::string cp_mode = "ring";      // ring | ulysses
  double expert_imbalance = 1.0;     // busiest expert's tokens over the mean
  double capacity_factor = 0;        // 0 = dropless
  bool pad_to_capacity = false;      // every expert computes and sends its whole capacity
  std::string ep_dispatcher = "alltoall";  // alltoall | dedup (DeepEP) | hybridep
  bool ep_overlap = false;           // all-to-all under the paired micro-batch's compute
  bool moe_cuda_graph = false;       // MoE layers captured in CUDA graphs (padded experts only)
  bool full_iteration_graph = false; // the whole step one CUDA graph: no MoE host wait
  bool json = false;
  double tokens = 0;
  double checkpoint_write_s = 60;
  double restart_s = 600;
  double step_jitter = 0.01;
  std::string trace_path;
};

// Upper bounds of the flags: beyond these, products of factors could overflow int64.
constexpr int64_t kMaxGpus = int64_t{1} << 24;   // 16.7M accelerators
constexpr int64_t kMaxBatch = int64_t{1} << 30;  // sequences
constexpr double kMaxTraceEvents = 1e6;
constexpr double kMaxPageTimelineOps = 4096;  // a plan's --json carries its timeline up to this many ops

struct Resolved {
  Catalog catalog;
  std::string model_name;
  Job job;
  AcceleratorSpec accelerator;
  ClusterSpec cluster;
};

// The job the flags describe: a catalog model or a training config, then the layout flags on top.
StatusOr<Resolved> resolve(const PlanArgs& a, bool need_layout) {
  TESSERA_ASSIGN_OR_RETURN(Catalog catalog, Catalog::load(a.catalog_dir.empty() ? Catalog::default_dir() : a.catalog_dir));
  Resolved r{std::move(catalog), a.model, {}, {}, {}};
  ParallelPlan& p = r.job.plan;
  const bool is_config = a.model.size() > 5 && a.model.substr(a.model.size() - 5) == ".toml";
  if (is_config) {
    TESSERA_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::from_file(a.model));
    r.job.model = read_model_spec(reader);
    p = read_parallel_plan(reader);
    TESSERA_RETURN_IF_ERROR(reader.status());
  } else {
    TESSERA_ASSIGN_OR_RETURN(r.job.model, r.catalog.model(a.model));
    if (const CatalogModel* known = r.catalog.match_model(a.model)) {
      r.job.router_groups = known->router_groups;
      r.job.router_group_topk = known->router_group_topk;
    }
    p.micro_batch = 1;
    p.precision = Precision::kBf16;
  }
  if (a.seq_len > 0) r.job.model.seq_len = a.seq_len;
  auto cluster = r.catalog.cluster(a.cluster);
  if (cluster.ok()) {
    r.cluster = *cluster;
  } else {
    auto acc = r.catalog.accelerator(a.cluster);
    if (!acc.ok()) return cluster.status();
    r.cluster = Catalog::cluster_for(*acc);
  }
  TESSERA_ASSIGN_OR_RETURN(r.accelerator, r.catalog.accelerator(r.cluster.accelerator));
  if (a.tp > 0) p.tp = a.tp;
  if (a.pp > 0) p.pp = a.pp;
  if (a.cp > 0) p.cp = a.cp;
  if (a.vpp > 0) p.vpp = a.vpp;
  if (a.micro_batch > 0) p.micro_batch = a.micro_batch;
  if (a.global_batch > 0) p.global_batch = a.global_batch;
  if (a.zero >= 0) p.zero_stage = a.zero;
  if (!a.recompute.empty() && !parse_recompute(a.recompute, &p.recompute)) {
    return invalid_argument_error("--recompute: expected none, selective or full, found '{}'", a.recompute);
  }
  std::string precision = a.precision;
  r.job.gemm_format = gemm_format_for(p.precision);
  if (precision == "fp4") {
    p.precision = Precision::kFp8;
    r.job.gemm_format = GemmFormat::kFp4;
  } else if (!precision.empty()) {
    if (!parse_precision(precision, &p.precision)) {
      return invalid_argument_error("--precision: expected fp32, bf16, fp8 or fp4, found '{}'", precision);
    }
    r.job.gemm_format = gemm_format_for(p.precision);
  }
  if (!a.gemm_parts.empty()) {
    auto parts = parse_gemm_parts(a.gemm_parts);
    if (!parts.ok()) return invalid_argument_error("--gemm-parts: {}", parts.status().message());
    if (const Status fits = validate_gemm_parts(*parts, r.job.model); !fits.ok()) {
      return invalid_argument_error("--gemm-parts: {}", fits.message());
    }
    r.job.gemm_parts = *parts;
  }
  if (!a.schedule.empty() && !parse_pipeline_schedule(a.schedule, &p.schedule)) {
    return invalid_argument_error("--schedule: expected gpipe, 1f1b or interleaved, found '{}'", a.schedule);
  }
  if (p.vpp > 1 && a.schedule.empty()) p.schedule = PipelineSchedule::kInterleaved;
  TESSERA_ASSIGN_OR_RETURN(r.job.framework, parse_framework(a.framework));
  r.job.memory.offload_layers = a.offload_layers;
  if (a.cp_mode == "ulysses") {
    r.job.cp_mode = ContextParallel::kAllToAll;
  } else if (a.cp_mode != "ring") {
    return invalid_argument_error("--cp-mode: expected ring or ulysses, found '{}'", a.cp_mode);
  }
  if (a.ep > 0) r.job.ep = a.ep;
  if (a.etp > 0) r.job.etp = a.etp;
  r.job.expert_imbalance = a.expert_imbalance;
  r.job.capacity_factor = a.capacity_factor;
  r.job.pad_to_capacity = a.pad_to_capacity;
  if (a.ep_dispatcher == "dedup") {
    r.job.ep_dispatch = ExpertDispatch::kDeduplicated;
  } else if (a.ep_dispatcher == "hybridep") {
    r.job.ep_dispatch = ExpertDispatch::kHybridEp;
  } else if (a.ep_dispatcher != "alltoall") {
    return invalid_argument_error("--ep-dispatcher: expected alltoall, dedup or hybridep, found '{}'", a.ep_dispatcher);
  }
  r.job.ep_overlap = a.ep_overlap;
  r.job.moe_cuda_graph = a.moe_cuda_graph;
  r.job.full_iteration_graph = a.full_iteration_graph;
  if (a.offload_layers > 0 && r.accelerator.host_link_gb_per_s <= 0) {
    return invalid_argument_error("--offload-layers: accelerator '{}' has no host link bandwidth in the catalog "
                                  "(host_link_gb_per_s = 0), so offload cannot be costed",
                                  r.accelerator.name);
  }
  if (!need_layout) return r;
  if (a.dp > 0) p.dp = a.dp;  // before defaulting --gpus to dp·tp·pp·cp
  int64_t model_parallel = 0, world = 0;
  if (__builtin_mul_overflow(p.tp, p.pp, &model_parallel) ||
      __builtin_mul_overflow(model_parallel, p.cp, &model_parallel) ||
      __builtin_mul_overflow(model_parallel, std::max<int64_t>(p.dp, 1), &world) || world > kMaxGpus) {
    return invalid_argument_error("layout: tp·pp·cp·dp exceeds {} accelerators", kMaxGpus);
  }
  const int64_t gpus = a.gpus > 0 ? a.gpus : world;
  if (a.dp <= 0 && gpus % model_parallel == 0) p.dp = gpus / model_parallel;
  int64_t replica_batch = 0;
  if (__builtin_mul_overflow(p.micro_batch, p.dp, &replica_batch) || replica_batch > kMaxBatch) {
    return invalid_argument_error("layout: micro-batch·dp exceeds {} sequences", kMaxBatch);
  }
  if (a.global_batch <= 0 && p.global_batch <= 0) p.global_batch = p.micro_batch * p.dp;
  apply_framework(r.job.framework, &r.job);  // after the layout: torchtitan's traits depend on pp and ZeRO
  if (!a.recompute_modules.empty()) {
    if (!a.recompute.empty()) {
      return invalid_argument_error("--recompute-modules sets the recompute itself (selective with core_attn, else "
                                    "none); drop --recompute '{}'",
                                    a.recompute);
    }
    const Status modules = apply_recompute_modules(a.recompute_modules, &r.job);
    if (!modules.ok()) return invalid_argument_error("--recompute-modules: {}", modules.message());
  }
  TESSERA_RETURN_IF_ERROR(validate_job(r.job, gpus));
  if (r.cluster.max_accelerators > 0 && gpus > r.cluster.max_accelerators) {
    return invalid_argument_error("--gpus: cluster '{}' has at most {} accelerators, found {}", r.cluster.name,
                                  r.cluster.max_accelerators, gpus);
  }
  return r;
}

int run_plan(const PlanArgs& a) {
  auto resolved = resolve(a, true);
  if (!resolved.ok()) return report_error("plan", resolved.status().message());
  Resolved& r = *resolved;
  const ClusterLinks links = cluster_links(r.cluster, r.accelerator);
  const AcceleratorDevice device(r.accelerator, r.job.gemm_format, r.job.plan.precision == Precision::kFp32);
  PlanReport report{r.model_name, r.cluster.name, r.job, r.accelerator, r.cluster, {}, {}, {}, 0, a.checkpoint_write_s};
  report.step = predict_step(r.job, r.accelerator, links, device);
  if (!report.step.memory.fits() && r.accelerator.host_link_gb_per_s > 0) {
    report.offload_layers_to_fit = min_offload_layers_to_fit(r.job, r.accelerator.hbm_gib);
  }
  report.token_budget = a.tokens;
  if (a.tokens > 0) {
    const int64_t n = r.job.plan.world_size();
    report.power = estimate_power_cost(r.cluster, r.accelerator, n, report.step.tokens_per_s, a.tokens);
    report.reliability = estimate_reliability(r.accelerator.hours_per_failure, n, report.power.train_hours,
                                              a.checkpoint_write_s, a.restart_s);
    report.with_failures = adjust_for_failures(report.power, report.reliability);
  }
  report.step_jitter = a.step_jitter;
  report.distribution = step_distribution(report.step.step_time_s, r.job.plan.world_size(), a.step_jitter);
  if (!a.trace_path.empty()) {
    const double events = 2.0 * static_cast<double>(r.job.plan.num_micro_batches()) *
                          static_cast<double>(r.job.plan.pp) * static_cast<double>(r.job.plan.vpp);
    if (events > kMaxTraceEvents) {
      return report_error("plan", fmt::format("--trace: {:.3g} events (2·micro-batches·pp·vpp) exceed {:.0g}; use a "
                                              "smaller --global-batch or a larger --micro-batch",
                                              events, kMaxTraceEvents));
    }
    PipelineSimInput sim{r.job.plan.schedule, r.job.plan.pp, r.job.plan.vpp, r.job.plan.num_micro_batches(),
                         report.step.forward_s, report.step.backward_s, 0};
    auto timeline = simulate_pipeline(sim);
    if (!timeline.ok()) return report_error("plan", timeline.status().message());
    std::ofstream out(a.trace_path);
    out << pipeline_chrome_trace(*timeline);
    if (!out) return report_error("plan", "cannot write the trace to '" + a.trace_path + "'");
    if (!a.json) {
      std::printf("  trace     %s: %zu events, simulated bubble %.1f%%\n", a.trace_path.c_str(), timeline->ops.size(),
                  100 * timeline->bubble_fraction);
    }
  }
  if (a.json) {
    nlohmann::json json = plan_report_json(report);
    // The pipeline's step timeline for `tessera report PLAN.json` (report/plan_page.h), as --trace simulates it,
    // when it is small enough to draw.
    const double ops = 2.0 * static_cast<double>(r.job.plan.num_micro_batches()) *
                       static_cast<double>(r.job.plan.pp) * static_cast<double>(r.job.plan.vpp);
    if (ops <= kMaxPageTimelineOps) {
      auto timeline = simulate_pipeline(PipelineSimInput{r.job.plan.schedule, r.job.plan.pp, r.job.plan.vpp,
                                                         r.job.plan.num_micro_batches(), report.step.forward_s,
                                                         report.step.backward_s, 0});
      if (timeline.ok()) json["timeline"] = nlohmann::json::parse(pipeline_timeline_json(*timeline, r.job.plan.pp));
    }
    std::cout << json.dump(2) << "\n";
  } else {
    std::cout << format_plan_report(report);
  }
  return 0;
}

struct SearchArgs {
  int64_t top = 10;
  bool benchmark = false;
};

int run_search(const PlanArgs& a, const SearchArgs& s) {
  auto resolved = resolve(a, false);
  if (!resolved.ok()) return report_error("plan search", resolved.status().message());
  Resolved& r = *resolved;
  if (a.gpus <= 0) return report_error("plan search", "--gpus: expected a positive accelerator count");
  if (a.tp > 0 || a.pp > 0 || a.dp > 0 || a.cp > 0 || a.vpp > 0 || a.micro_batch > 0 || a.zero >= 0 ||
      !a.recompute.empty() || !a.recompute_modules.empty() || !a.schedule.empty() || a.ep > 0) {
    return report_error("plan search",
                        "--tp/--pp/--dp/--cp/--ep/--vpp/--micro-batch/--zero/--recompute(-modules)/--schedule fix "
                        "a layout; search enumerates them (use `tessera plan` to predict one layout)");
  }
  if (r.cluster.max_accelerators > 0 && a.gpus > r.cluster.max_accelerators) {
    return report_error("plan search", fmt::format("--gpus: cluster '{}' has at most {} accelerators, found {}",
                                                   r.cluster.name, r.cluster.max_accelerators, a.gpus));
  }
  SearchSpace space;
  space.gpus = a.gpus;
  space.global_batch = a.global_batch > 0 ? a.global_batch : 0;
  space.gemm_format = r.job.gemm_format;
  space.gemm_parts = r.job.gemm_parts;
  space.precision = r.job.plan.precision;
  space.framework = r.job.framework;
  space.offload_layers = a.offload_layers;
  const auto start = std::chrono::steady_clock::now();
  auto result = search_layouts(r.job.model, r.accelerator, r.cluster, space, s.top);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result.ok()) return report_error("plan search", result.status().message());
  int64_t candidates = result->candidates, predicted = result->fit;
  // --benchmark: repeat the search for at least a second so the rate is a stable figure.
  while (s.benchmark && seconds < 1.0) {
    auto again = search_layouts(r.job.model, r.accelerator, r.cluster, space, s.top);
    candidates += again->candidates;
    predicted += again->fit;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double rate = static_cast<double>(candidates) / seconds;
  if (a.json) {
    nlohmann::json j;
    j["candidates"] = result->candidates;
    j["valid"] = result->valid;
    j["fit"] = result->fit;
    j["seconds"] = seconds;
    j["candidates_per_s"] = rate;
    j["top"] = nlohmann::json::array();
    for (const auto& c : result->top) {
      PlanReport report{r.model_name, r.cluster.name, c.job, r.accelerator, r.cluster, c.step, {}, {}, 0, 0};
      j["top"].push_back(plan_report_json(report));
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("tessera plan search: %s on %lld × %s (%s), global batch %lld\n", r.model_name.c_str(),
              static_cast<long long>(a.gpus), r.accelerator.name.c_str(), r.cluster.name.c_str(),
              static_cast<long long>(result->global_batch));
  std::printf("%4s %4s %4s %4s %4s %4s %4s %5s %4s %-9s %-11s %10s %12s %8s %7s %8s\n", "rank", "dp", "tp", "pp", "cp",
              "ep", "vpp", "mbs", "zero", "recompute", "schedule", "step (s)", "tokens/s", "TFLOP/s", "MFU", "mem GiB");
  int rank = 1;
  for (const auto& c : result->top) {
    const ParallelPlan& p = c.job.plan;
    std::printf("%4d %4lld %4lld %4lld %4lld %4lld %4lld %5lld %4lld %-9s %-11s %10.3f %12.0f %8.0f %6.1f%% %8.1f\n",
                rank++, static_cast<long long>(p.dp), static_cast<long long>(p.tp), static_cast<long long>(p.pp),
                static_cast<long long>(p.cp), static_cast<long long>(c.job.ep), static_cast<long long>(p.vpp), static_cast<long long>(p.micro_batch),
                static_cast<long long>(p.zero_stage), recompute_name(p.recompute), pipeline_schedule_name(p.schedule),
                c.step.step_time_s, c.step.tokens_per_s, c.step.tflops_per_gpu, 100 * c.step.mfu,
                c.step.memory.total_gib());
  }
  if (result->top.empty() && result->valid == 0) {
    std::printf("no valid layout: no tp·cp·pp·dp = %lld with tp dividing the heads, cp the sequence and dp·micro-batch "
                "the global batch %lld; try a GPU count with more factors of 2 or another --global-batch\n",
                static_cast<long long>(a.gpus), static_cast<long long>(result->global_batch));
  } else if (result->top.empty()) {
    std::printf("no layout fits in memory (%lld valid layouts); try more accelerators or a larger batch\n",
                static_cast<long long>(result->valid));
  }
  std::printf("%lld candidates (%lld valid, %lld fit in memory and were fully predicted) per search\n",
              static_cast<long long>(result->candidates), static_cast<long long>(result->valid),
              static_cast<long long>(result->fit));
  std::printf("%.0f candidates/s (%.0f full step predictions/s) over %.3f s\n", rate,
              static_cast<double>(predicted) / seconds, seconds);
  return 0;
}

struct ValidateArgs {
  std::string csv;
  bool json = false;
  bool fit = false;
};

int run_validate(const PlanArgs& a, const ValidateArgs& v) {
  auto catalog = Catalog::load(a.catalog_dir.empty() ? Catalog::default_dir() : a.catalog_dir);
  if (!catalog.ok()) return report_error("plan validate", catalog.status().message());
  auto table = read_csv_file(v.csv);
  if (!table.ok()) return report_error("plan validate", table.status().message());
  auto runs = load_published_runs(*table, *catalog);
  if (!runs.ok()) return report_error("plan validate", runs.status().message());
  EfficiencyTable overrides;
  if (v.fit) {
    overrides = fit_efficiencies(*runs);
    if (!v.json) {
      std::printf("efficiency constants fitted on the fit half (generation/format = fraction of dense peak):\n");
      for (const auto& [key, value] : overrides) std::printf("  %-32s %.4g\n", key.c_str(), value);
      std::printf("\n");
    }
  }
  const auto predictions = predict_runs(*runs, overrides);
  const ValidationSummary summary = summarize(predictions);
  if (v.json) {
    for (const auto& p : predictions) std::cout << validation_row_json(p).dump() << "\n";
    std::cout << validation_summary_json(summary).dump() << "\n";  // last line: {"summary": true, ...}
    return 0;
  }
  std::cout << format_validation(predictions, summary);
  return 0;
}

struct CalibrateArgs {
  std::string probe, config, measured, comm_probe;
  int64_t ranks = 1;
  bool json = false;
};

int run_calibrate(const CalibrateArgs& c) {
  auto probe = read_kernel_probe(c.probe);
  if (!probe.ok()) return report_error("plan calibrate", probe.status().message());
  auto reader = ConfigReader::from_file(c.config);
  if (!reader.ok()) return report_error("plan calibrate", reader.status().message());
  CalibrationInput in;
  in.model = read_model_spec(*reader);
  ParallelPlan plan = read_parallel_plan(*reader);
  if (!reader->status().ok()) return report_error("plan calibrate", reader->status().message());
  in.micro_batch = plan.micro_batch;
  in.ranks = c.ranks;
  if (!c.comm_probe.empty()) {
    auto comm = read_comm_probe(c.comm_probe);
    if (!comm.ok()) return report_error("plan calibrate", comm.status().message());
    in.tp_link = comm->mpi;
  }
  std::optional<TrainMeasurement> measured;
  if (!c.measured.empty()) {
    auto m = read_train_measurement(c.measured);
    if (!m.ok()) return report_error("plan calibrate", m.status().message());
    measured = *m;
    if (measured->world_size > 0 && c.ranks == 1) in.ranks = measured->world_size;
    // Predict the run that was measured: its per-rank micro-batch (a 2-rank run of the same global batch
    // has half the config's micro-batch).
    // Its pipeline too: pp stages, the schedule, M micro-batches of B sequences per dp replica.
    in.pp = measured->pp;
    in.tp = measured->tp;
    in.sequence_parallel = measured->sequence_parallel;
    in.vpp = measured->vpp;
    in.schedule = measured->schedule;
    in.micro_batches = measured->micro_batches;
    if (measured->batch_size > 0 && measured->world_size > 0) {
      const int64_t replicas = measured->world_size / (measured->pp * measured->tp);
      if (measured->batch_size % (replicas * measured->micro_batches) != 0) {
        return report_error("plan calibrate",
                            fmt::format("'{}': batch_size {} is not a multiple of dp {} x micro_batches {}", c.measured,
                                        measured->batch_size, replicas, measured->micro_batches));
      }
      in.micro_batch = measured->batch_size / (replicas * measured->micro_batches);
    }
  }
  auto result = calibrate_and_predict(*probe, in);
  if (!result.ok()) return report_error("plan calibrate", result.status().message());
  if (c.json) {
    nlohmann::json j = calibration_json(*result);
    if (measured) {
      j["measured_step_time_s"] = measured->step_time_s;
      j["error_percent"] = 100 * (result->step_time_s - measured->step_time_s) / measured->step_time_s;
      if (measured->pipeline_bubble) j["measured_bubble_fraction"] = *measured->pipeline_bubble;
      // The runtime's exposed collectives against the prediction's (dp all-reduce + tp collectives).
      j["measured_comm_exposed_s"] = measured->comm_exposed_s;
      j["predicted_comm_exposed_s"] = result->allreduce_s + result->tp_comm_s;
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << format_calibration(*result);
  if (measured) {
    std::printf("  measured  %.4f s/step (%.0f tokens/s); predicted %.4f s: error %+.1f%%\n", measured->step_time_s,
                measured->tokens_per_s, result->step_time_s,
                100 * (result->step_time_s - measured->step_time_s) / measured->step_time_s);
  }
  return 0;
}

// "--tokens: expected a positive number, found -5" (CLI11's PositiveNumber prints the whole double range).
CLI::Validator number_above(double low, bool inclusive) {
  return CLI::Validator(
      [low, inclusive](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        const bool ok = end != text.c_str() && *end == '\0' && std::isfinite(v) && (inclusive ? v >= low : v > low);
        if (ok) return {};
        return fmt::format("expected a {} number, found '{}'", inclusive ? "non-negative" : "positive", text);
      },
      inclusive ? "NONNEGATIVE" : "POSITIVE");
}

void add_layout_options(CLI::App* app, PlanArgs& a) {
  app->add_option("--catalog", a.catalog_dir, "catalog directory (default: $TESSERA_CATALOG or the source tree's catalog/)");
  app->add_option("--model", a.model, "catalog model name or a training config .toml")->capture_default_str();
  app->add_option("--cluster", a.cluster, "catalog cluster (or accelerator) name")->capture_default_str();
  const auto gpus = integer_in(1, kMaxGpus);
  const auto batch = integer_in(1, kMaxBatch);
  app->add_option("--gpus", a.gpus, "accelerators in the job")->check(gpus);
  app->add_option("--tp", a.tp, "tensor-parallel degree")->check(gpus);
  app->add_option("--pp", a.pp, "pipeline stages")->check(gpus);
  app->add_option("--dp", a.dp, "data-parallel replicas (default gpus/(tp*pp*cp))")->check(gpus);
  app->add_option("--cp", a.cp, "context-parallel degree")->check(gpus);
  app->add_option("--cp-mode", a.cp_mode, "context parallelism: ring (K,V passed around, overlapped) | ulysses "
                                         "(all-to-all of heads, exposed)")
      ->capture_default_str();
  app->add_option("--ep", a.ep, "expert-parallel degree (MoE models; divides tp*cp*dp and the experts)")->check(gpus);
  app->add_option("--etp", a.etp, "expert tensor-parallel degree (MoE models)")->check(gpus);
  app->add_option("--expert-imbalance", a.expert_imbalance, "tokens of the busiest expert over the mean (MoE; >= 1)")
      ->capture_default_str()
      ->check(number_in(1.0, 1e6));
  app->add_option("--capacity-factor", a.capacity_factor, "MoE token-drop capacity factor (0 = dropless)")
      ->capture_default_str()
      ->check(number_above(0, true));
  app->add_flag("--pad-to-capacity", a.pad_to_capacity,
                "MoE token drop with every expert padded to its capacity (Megatron moe_pad_expert_input_to_capacity: "
                "each expert computes and receives its whole capacity; needs --capacity-factor)");
  app->add_option("--ep-dispatcher", a.ep_dispatcher,
                  "MoE token dispatch: alltoall (every routed copy its own message, permuted in separate passes) | dedup "
                  "(DeepEP: once per destination rank and remote node, forwarded over NVLink) | hybridep (as dedup, "
                  "with the permutation fused into the dispatch)")
      ->capture_default_str();
  app->add_flag("--ep-overlap", a.ep_overlap,
                "MoE all-to-all overlapped with another micro-batch's compute (Megatron overlap_moe_expert_parallel_comm)");
  app->add_flag("--moe-cuda-graph", a.moe_cuda_graph,
                "MoE layers captured in CUDA graphs (Megatron enable_cuda_graph): no per-expert host launch loop; needs "
                "--pad-to-capacity (dropless shapes cannot be captured)");
  app->add_flag("--full-iteration-graph", a.full_iteration_graph,
                "the whole step captured as one CUDA graph (Megatron cuda_graph_impl=full_iteration, dropless MoE with "
                "a static per-rank token budget): no MoE host wait");
  app->add_option("--vpp", a.vpp, "virtual stages per pipeline rank (interleaved)")->check(integer_in(1, 1024));
  app->add_option("--micro-batch", a.micro_batch, "sequences per micro-batch")->check(batch);
  app->add_option("--global-batch", a.global_batch, "sequences per optimizer step")->check(batch);
  app->add_option("--seq-len", a.seq_len, "override the model's sequence length")->check(integer_in(1, int64_t{1} << 26));
  app->add_option("--zero", a.zero, "ZeRO stage 0-3 (3 = FSDP)")->check(integer_in(0, 3));
  app->add_option("--recompute", a.recompute, "none | selective | full");
  app->add_option("--recompute-modules", a.recompute_modules,
                  "Megatron-Core modules recomputed, e.g. layernorm,moe (norm, layernorm, act, moe_act, core_attn, "
                  "mla_up_proj, moe)");
  app->add_option("--precision", a.precision, "fp32 | bf16 | fp8 | fp4 (GEMMs)");
  app->add_option("--gemm-parts", a.gemm_parts,
                  "parts whose GEMMs run in another format than --precision: comma-separated first=N, last=N (layers "
                  "in bf16) and PART=bf16|fp8|fp4, PART one of attention, mamba_in_proj, mamba_out_proj, moe_latent, "
                  "mtp, lm_head (docs/planner.md)");
  app->add_option("--schedule", a.schedule, "gpipe | 1f1b | interleaved | zb-h1");
  app->add_option("--framework", a.framework, "generic | megatron | nemo | torchtitan: memory traits (docs/planner.md)")
      ->capture_default_str();
  app->add_option("--offload-layers", a.offload_layers, "layers per pipeline stage whose activations go to host memory")
      ->check(integer_in(0, int64_t{1} << 20));
  app->add_flag("--json", a.json, "print JSON");
}

}  // namespace

void register_plan_command(CLI::App& app, CommandResult& result) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* plan = app.add_subcommand("plan", "predict, search, validate and calibrate training jobs on clusters");
  add_layout_options(plan, *args);
  plan->add_option("--tokens", args->tokens, "token budget: prints time, energy, cost, failures")->check(number_above(0, false));
  plan->add_option("--checkpoint-write-s", args->checkpoint_write_s, "seconds to write one checkpoint")
      ->capture_default_str()
      ->check(number_above(0, false));
  plan->add_option("--restart-s", args->restart_s, "seconds to restart after a failure")
      ->capture_default_str()
      ->check(number_above(0, true));
  plan->add_option("--step-jitter", args->step_jitter,
                   "per-rank step-time coefficient of variation for the p50/p90 step times (0.01 = 1%)")
      ->capture_default_str()
      ->check(number_in(0.0, 1.0));
  plan->add_option("--trace", args->trace_path, "write the simulated pipeline schedule as a Chrome/Perfetto trace");

  auto search_args = std::make_shared<SearchArgs>();
  auto search_plan = std::make_shared<PlanArgs>();
  CLI::App* search = plan->add_subcommand("search", "enumerate layouts, drop those that do not fit, rank by throughput");
  add_layout_options(search, *search_plan);
  search->add_option("--top", search_args->top, "layouts to print")->capture_default_str()->check(integer_in(1, 10000));
  search->add_flag("--benchmark", search_args->benchmark, "print the candidates/s figure (always printed)");
  search->callback([&result, search_plan, search_args] { result.exit_code = run_search(*search_plan, *search_args); });

  auto validate_args = std::make_shared<ValidateArgs>();
  CLI::App* validate = plan->add_subcommand("validate", "predict the runs of a published-runs CSV and report the error");
  validate->add_option("csv", validate_args->csv, "CSV with the columns of published_runs.csv")->required();
  validate->add_flag("--json", validate_args->json, "one JSON object per row, then the summary object");
  validate->add_flag("--fit", validate_args->fit, "refit the efficiency constants on the fit half first");
  validate->add_option("--catalog", args->catalog_dir, "catalog directory");
  validate->callback([&result, args, validate_args] { result.exit_code = run_validate(*args, *validate_args); });

  auto calibrate_args = std::make_shared<CalibrateArgs>();
  CLI::App* calibrate = plan->add_subcommand("calibrate", "fit this machine from tessera bench and predict a local run");
  calibrate->add_option("--probe", calibrate_args->probe, "tessera bench kernels --json output")->required();
  calibrate->add_option("--config", calibrate_args->config, "training config .toml")->required();
  calibrate->add_option("--measured", calibrate_args->measured, "tessera bench train --json output");
  calibrate->add_option("--comm-probe", calibrate_args->comm_probe,
                        "tessera bench comm --backends mpi --ops all_reduce --json output (the tp collectives' link)");
  calibrate->add_option("--ranks", calibrate_args->ranks, "ranks on this machine (1 or 2)")->capture_default_str();
  calibrate->add_flag("--json", calibrate_args->json, "print JSON");
  calibrate->callback([&result, calibrate_args] { result.exit_code = run_calibrate(*calibrate_args); });

  plan->callback([&result, args, plan] {
    if (plan->get_subcommands().empty()) result.exit_code = run_plan(*args);
  });
}

}  // namespace tessera::tools

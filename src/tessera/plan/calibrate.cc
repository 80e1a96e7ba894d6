#include "tessera/plan/calibrate.h"

#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "tessera/plan/step_model.h"

namespace tessera::plan {

namespace {
// The whole file at `path`; `what` names it in the error ("probe 'x.json': cannot open the file").
StatusOr<std::string> read_text(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) return not_found_error("{}'{}': cannot open the file", what, path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}
StatusOr<nlohmann::json> read_json(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const std::string text, read_text(path, ""));
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument_error("'{}': not valid JSON: {}", path, e.what());
  }
}
// Shared-memory all-reduce between ranks: each byte is written and read once by each side.
constexpr double kShmLatencyS = 5e-6;
}  // namespace

StatusOr<CommProbe> parse_comm_probe(const std::string& json_text, const std::string& origin) {
  CommProbe probe;
  std::vector<std::pair<double, double>> points;  // (bytes, median seconds) of the mpi all_reduce rows
  try {
    const nlohmann::json j = nlohmann::json::parse(json_text);
    probe.ranks = j.at("ranks").get<int64_t>();
    for (const auto& row : j.at("rows")) {
      if (row.at("op").get<std::string>() != "all_reduce" || row.at("backend").get<std::string>() != "mpi") continue;
      points.emplace_back(row.at("bytes").get<double>(), row.at("seconds").get<double>());
    }
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument_error("comm probe '{}': expected `tessera bench comm --json` output: {}", origin, e.what());
  }
  if (probe.ranks < 2 || points.size() < 2) {
    return invalid_argument_error("comm probe '{}': expected all_reduce rows of the mpi backend at 2 or more sizes on "
                                  "2 or more ranks, found {} row(s) on {} rank(s); hint: mpirun -n 2 tessera bench "
                                  "comm --backends mpi --ops all_reduce --json",
                                  origin, points.size(), probe.ranks);
  }
  // Least squares t = c + k·S.
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, y] : points) sx += x, sy += y, sxx += x * x, sxy += x * y;
  const double n = static_cast<double>(points.size());
  const double k = (n * sxy - sx * sy) / (n * sxx - sx * sx), c = (sy - k * sx) / n;
  if (!(k > 0)) {
    return invalid_argument_error("comm probe '{}': the all_reduce times do not grow with the size (slope {:.3g} s/B); "
                                  "expected a measurement over a wider range of sizes", origin, k);
  }
  const double p = static_cast<double>(probe.ranks);
  probe.mpi = Link{.bytes_per_s = 2 * (p - 1) / (p * k), .latency_s = std::max(0.0, c) / (2 * (p - 1))};
  probe.points = static_cast<int64_t>(points.size());
  return probe;
}

StatusOr<CommProbe> read_comm_probe(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const std::string text, read_text(path, "comm probe "));
  return parse_comm_probe(text, path);
}

StatusOr<KernelProbe> parse_kernel_probe(const std::string& json_text, const std::string& origin) {
  KernelProbe probe;
  try {
    const nlohmann::json j = nlohmann::json::parse(json_text);
    probe.threads = j.value("threads", int64_t{1});
    probe.memory_bandwidth_gbs = j.value("memory_bandwidth_gbs", 0.0);
    // The probed peaks (peak_probe.h); probes recorded before them have only the fp32 estimate.
    probe.fp32_peak_gflops = j.value("fp32_peak_gflops", j.value("fp32_peak_gflops_estimate", 0.0));
    probe.bf16_peak_gflops = j.value("bf16_peak_gflops", 0.0);
    if (j.contains("matmul")) {
      for (const auto& e : j.at("matmul")) {
        probe.matmul.push_back({e.at("m").get<double>(), e.at("n").get<double>(), e.at("k").get<double>(),
                                e.at("gflops").get<double>()});
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument_error("probe '{}': {}", origin, e.what());
  }
  if (probe.matmul.empty()) return invalid_argument_error("probe '{}': expected a non-empty \"matmul\" array", origin);
  if (probe.memory_bandwidth_gbs <= 0) {
    return invalid_argument_error("probe '{}': memory_bandwidth_gbs: expected > 0, found {}", origin,
                                  probe.memory_bandwidth_gbs);
  }
  for (const auto& mm : probe.matmul) {
    if (mm.m <= 0 || mm.n <= 0 || mm.k <= 0 || mm.gflops <= 0) {
      return invalid_argument_error("probe '{}': matmul entries need positive m, n, k, gflops", origin);
    }
  }
  return probe;
}

StatusOr<KernelProbe> read_kernel_probe(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const std::string text, read_text(path, "probe "));
  return parse_kernel_probe(text, path);
}

StatusOr<TrainMeasurement> read_train_measurement(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(nlohmann::json j, read_json(path));
  TrainMeasurement m;
  m.tokens_per_s = j.value("tokens_per_s", 0.0);
  m.step_time_s = j.value("step_time_s", 0.0);
  m.world_size = j.value("world_size", int64_t{1});
  m.batch_size = j.value("batch_size", int64_t{0});
  m.pp = j.value("pp", int64_t{1});
  m.tp = j.value("tp", int64_t{1});
  m.sequence_parallel = j.value("sequence_parallel", false);
  m.vpp = j.value("vpp", int64_t{1});
  m.micro_batches = j.value("micro_batches", int64_t{1});
  const std::string schedule = j.value("schedule", std::string(pipeline_schedule_name(m.schedule)));
  if (!parse_pipeline_schedule(schedule, &m.schedule)) {
    return invalid_argument_error("measurement '{}': schedule: expected gpipe, 1f1b, interleaved or zb-h1, found '{}'",
                                  path, schedule);
  }
  if (j.contains("pipeline_bubble")) m.pipeline_bubble = j["pipeline_bubble"].get<double>();
  m.comm_exposed_s = j.value("comm_exposed_s", 0.0);
  if (m.step_time_s <= 0) return invalid_argument_error("measurement '{}': step_time_s: expected > 0", path);
  if (m.pp < 1 || m.tp < 1 || m.vpp < 1 || m.micro_batches < 1 || m.world_size % (m.pp * m.tp) != 0) {
    return invalid_argument_error(
        "measurement '{}': pp {}, tp {} and micro_batches {}: expected ≥ 1, pp·tp dividing world_size {}", path, m.pp,
        m.tp, m.micro_batches, m.world_size);
  }
  return m;
}

double CpuDevice::probe_gflops(double m, double n, double k) const {
  const MatmulProbe* best = nullptr;
  double best_d = 0;
  for (const auto& p : probe_.matmul) {
    const double d = std::pow(std::log(m / p.m), 2) + std::pow(std::log(n / p.n), 2) + std::pow(std::log(k / p.k), 2);
    if (best == nullptr || d < best_d) best = &p, best_d = d;
  }
  double rate = best->gflops;
  // Far from every probed shape (e.g. an attention T×T×HS GEMM when only layer shapes were probed): small
  // dimensions lose efficiency; scale by the same d/(d+64) factor the accelerator model uses.
  auto size = [](double d) { return d / (d + 64); };
  rate *= (size(m) * size(n) * size(k)) / (size(best->m) * size(best->n) * size(best->k));
  return rate;
}

double CpuDevice::gemm_seconds(double m, double n, double k) const {
  return 2 * m * n * k / (probe_gflops(m, n, k) * 1e9 / share_);
}

double CpuDevice::attention_seconds(double flops, double t, double hs) const {
  return flops / (probe_gflops(t, t, hs) * 1e9 / share_);
}

double CpuDevice::memory_seconds(double bytes) const { return bytes / (probe_.memory_bandwidth_gbs * 1e9 / share_); }

StatusOr<CalibrationResult> calibrate_and_predict(const KernelProbe& probe, const CalibrationInput& in) {
  TESSERA_RETURN_IF_ERROR(in.model.validate());
  if (in.ranks < 1 || in.pp < 1 || in.tp < 1 || in.ranks % (in.pp * in.tp) != 0 || in.micro_batches < 1) {
    return invalid_argument_error("calibrate: expected ranks ≥ 1 a multiple of pp·tp ≥ 1 and micro-batches ≥ 1, found "
                                  "ranks {}, pp {}, tp {}, micro-batches {}", in.ranks, in.pp, in.tp, in.micro_batches);
  }
  Job job;
  job.model = in.model;
  job.plan.dp = in.ranks / (in.pp * in.tp);
  job.plan.pp = in.pp;
  job.plan.tp = in.tp;
  job.plan.vpp = in.vpp;
  job.sequence_parallel = in.sequence_parallel;
  job.plan.schedule = in.schedule;
  job.plan.micro_batch = in.micro_batch;
  job.plan.global_batch = in.micro_batch * job.plan.dp * in.micro_batches;
  job.runtime_stages = true;  // Tessera's stage split, the LM head on the last stage
  job.plan.precision = Precision::kFp32;
  job.gemm_format = GemmFormat::kFp32;
  job.flash_attention = true;  // the runtime's attention loops skip masked positions (causal FLOPs)
  job.dp_overlap = 0;          // the same cores reduce and compute
  TESSERA_RETURN_IF_ERROR(validate_job(job, in.ranks));
  const CpuDevice device(probe, static_cast<double>(in.ranks));
  AcceleratorSpec cpu;
  cpu.name = "this-machine";
  cpu.peak_fp32_tflops = probe.fp32_peak_gflops / 1000;
  cpu.peak_bf16_tflops = probe.bf16_peak_gflops / 1000;  // 0 (no bf16 dot product): bf16 falls back to fp32
  cpu.hbm_gib = 1e6;
  cpu.hbm_tb_per_s = probe.memory_bandwidth_gbs / 1000;
  ClusterLinks links;
  // Shared memory: a rank copies its buffer in and the peer's out, at its half of the bandwidth — what the
  // gradient all-reduce costs the cores (it progresses asynchronously, overlapped with backward).
  links.scaleup = {probe.memory_bandwidth_gbs * 1e9 / 2 / static_cast<double>(in.ranks), kShmLatencyS};
  // The tp collectives block on Tessera's mpi backend, whose small nonblocking calls run ~60× below the copy
  // bandwidth (kMpiBytesPerS, calibrate.h): that rate, not the probe's, is what each one waits.
  links.tensor_parallel = in.tp_link.value_or(Link{kMpiBytesPerS, kMpiLatencyS});
  links.scaleout = links.scaleup;
  links.scaleup_domain = in.ranks;
  const StepPrediction step = predict_step(job, cpu, links, device);
  CalibrationResult r;
  r.input = in;
  r.step_time_s = step.step_time_s;
  r.tokens_per_s = step.tokens_per_s;
  r.compute_s = step.compute_s;
  r.allreduce_s = step.dp_comm_s;
  r.tp_comm_s = step.tp_comm_s;
  r.optimizer_s = step.optimizer_s;
  r.bubble_fraction = step.bubble_fraction;
  const double M = static_cast<double>(in.micro_batch * in.model.seq_len);
  r.matmul_gflops_used = device.probe_gflops(M, static_cast<double>(in.model.ffn()), static_cast<double>(in.model.n_embd));
  r.memory_bandwidth_gbs = probe.memory_bandwidth_gbs;
  return r;
}

std::string format_calibration(const CalibrationResult& r) {
  const ModelSpec& m = r.input.model;
  return fmt::format(
      "tessera plan calibrate: L={} C={} heads={} T={} V={} B={} on {} rank(s) of this machine\n"
      "  device    matmul {:.0f} GFLOP/s (probe, largest layer GEMM, whole machine), memory {:.1f} GB/s, shared by {} rank(s)\n"
      "  predicted {:.4f} s/step ({:.0f} tokens/s): compute {:.4f} s, all-reduce {:.4f} s, optimizer {:.4f} s{}\n",
      m.n_layer, m.n_embd, m.n_head, m.seq_len, m.vocab_size, r.input.micro_batch, r.input.ranks, r.matmul_gflops_used,
      r.memory_bandwidth_gbs, r.input.ranks, r.step_time_s, r.tokens_per_s, r.compute_s, r.allreduce_s, r.optimizer_s,
      (r.input.tp > 1 ? fmt::format("; tp {}{}, its collectives {:.4f} s", r.input.tp,
                                     r.input.sequence_parallel ? " + sequence parallel" : "", r.tp_comm_s)
                       : "") +
      (r.input.pp > 1 ? fmt::format("; pipeline pp {} {} over {} micro-batches, bubble {:.1f}%", r.input.pp,
                                   pipeline_schedule_name(r.input.schedule), r.input.micro_batches,
                                   100 * r.bubble_fraction)
                     : ""));
}

nlohmann::json calibration_json(const CalibrationResult& r) {
  return {{"ranks", r.input.ranks}, {"micro_batch", r.input.micro_batch}, {"step_time_s", r.step_time_s},
          {"tokens_per_s", r.tokens_per_s}, {"compute_s", r.compute_s}, {"allreduce_s", r.allreduce_s},
          {"optimizer_s", r.optimizer_s}, {"matmul_gflops", r.matmul_gflops_used},
          {"tp_comm_s", r.tp_comm_s}, {"tp", r.input.tp}, {"vpp", r.input.vpp},
          {"sequence_parallel", r.input.sequence_parallel}, {"pp", r.input.pp},
          {"schedule", pipeline_schedule_name(r.input.schedule)}, {"micro_batches", r.input.micro_batches},
          {"bubble_fraction", r.bubble_fraction}, {"memory_bandwidth_gbs", r.memory_bandwidth_gbs},
          // The tp link used, and where it came from.
          {"tp_link_gbs", r.input.tp_link.value_or(Link{kMpiBytesPerS, kMpiLatencyS}).bytes_per_s / 1e9},
          {"tp_link_latency_us", r.input.tp_link.value_or(Link{kMpiBytesPerS, kMpiLatencyS}).latency_s * 1e6},
          {"tp_link_source", r.input.tp_link ? "comm probe" : "fallback constant"}};
}

}  // namespace tessera::plan

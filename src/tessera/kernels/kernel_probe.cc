// Machine probe: timing loops for matmul, memory bandwidth and FMA peak (see kernel_probe.h).
#include "tessera/kernels/kernel_probe.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <vector>

#include "tessera/core/check.h"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kProbeSweeps = 2;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs `body` once to warm up, then repeatedly until `seconds` have passed (at least twice); returns the
// fastest call. On a shared machine noise only ever slows a call down, so the minimum is the machine's
// rate and the mean is the machine's rate plus whatever else ran (DESIGN.md: "the machine is shared").
template <typename Body>
double time_per_call(double seconds, Body&& body) {
  body();
  int64_t calls = 0;
  double fastest = 0.0;
  const Clock::time_point start = Clock::now();
  do {
    const Clock::time_point call_start = Clock::now();
    body();
    const double call = seconds_since(call_start);
    fastest = calls == 0 ? call : std::min(fastest, call);
    ++calls;
  } while (calls < 2 || seconds_since(start) < seconds);
  return fastest;
}

double probe_matmul(KernelBackend& backend, MatmulProbe shape, double seconds) {
  std::vector<float> inp(static_cast<size_t>(shape.m * shape.k));
  std::vector<float> weight(static_cast<size_t>(shape.n * shape.k));
  std::vector<float> out(static_cast<size_t>(shape.m * shape.n));
  for (size_t i = 0; i < inp.size(); ++i) inp[i] = static_cast<float>(i % 17) * 0.01f;
  for (size_t i = 0; i < weight.size(); ++i) weight[i] = static_cast<float>(i % 13) * 0.01f;
  const double per_call = time_per_call(seconds, [&] {
    backend.matmul_forward(out.data(), inp.data(), weight.data(), nullptr, shape.m, shape.k, shape.n);
  });
  return 2.0 * static_cast<double>(shape.m) * static_cast<double>(shape.n) * static_cast<double>(shape.k) /
         per_call / 1e9;
}

// STREAM triad over three 64 MB arrays (far past any cache), first-touched by the threads that use them.
double probe_bandwidth(double seconds) {
  constexpr int64_t kElements = int64_t{16} << 20;
  std::vector<float> a(kElements);
  std::vector<float> b(kElements);
  std::vector<float> c(kElements);
  float* pa = a.data();
  float* pb = b.data();
  float* pc = c.data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < kElements; ++i) {
    pa[i] = 0.0f;
    pb[i] = 1.0f;
    pc[i] = 2.0f;
  }
  const float s = 0.5f;
  const double per_call = time_per_call(seconds, [&] {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < kElements; ++i) pa[i] = pb[i] + s * pc[i];
  });
  return 3.0 * sizeof(float) * static_cast<double>(kElements) / per_call / 1e9;
}

}  // namespace

std::vector<MatmulProbe> matmul_probe_shapes() {
  return {
      {2048, 1152, 384, 0.0},   // qkv
      {2048, 384, 384, 0.0},    // attention projection
      {2048, 1536, 384, 0.0},   // MLP up
      {2048, 384, 1536, 0.0},   // MLP down
      {2048, 50257, 384, 0.0},  // LM head
      {512, 384, 384, 0.0},     // smaller batch
      {2048, 2304, 768, 0.0},   // GPT-2 124M qkv
      {4096, 3072, 768, 0.0},   // GPT-2 124M MLP up, larger batch
  };
}

MachineProbe probe_machine(KernelBackend& backend, int threads, double seconds_per_point) {
  TESSERA_CHECK(seconds_per_point >= 0.0, "seconds_per_point={} must be >= 0", seconds_per_point);
  set_kernel_threads(threads);
  MachineProbe probe;
  probe.threads = kernel_threads();
  probe.matmul = matmul_probe_shapes();
  // Two sweeps, keeping each figure's best: another tenant of this shared machine that takes a core for a
  // few seconds halves every figure measured meanwhile, and rarely hits the same shape in both sweeps.
  for (int sweep = 0; sweep < kProbeSweeps; ++sweep) {
    for (MatmulProbe& shape : probe.matmul) {
      shape.gflops = std::max(shape.gflops, probe_matmul(backend, shape, seconds_per_point / kProbeSweeps));
    }
    probe.memory_bandwidth_gbs = std::max(probe.memory_bandwidth_gbs, probe_bandwidth(seconds_per_point / kProbeSweeps));
    const PeakFlops peak = probe_peak_flops(probe.threads, seconds_per_point / kProbeSweeps);
    if (peak.fp32_gflops > probe.peak.fp32_gflops) probe.peak.fp32_gflops = peak.fp32_gflops;
    if (peak.bf16_gflops > probe.peak.bf16_gflops) probe.peak.bf16_gflops = peak.bf16_gflops;
    probe.peak.threads = peak.threads;
    probe.peak.fp32_isa = peak.fp32_isa;
    probe.peak.bf16_isa = peak.bf16_isa;
  }
  return probe;
}

std::string machine_probe_to_json(const MachineProbe& probe) {
  nlohmann::ordered_json json;
  json["threads"] = probe.threads;
  json["matmul"] = nlohmann::ordered_json::array();
  for (const MatmulProbe& shape : probe.matmul) {
    json["matmul"].push_back({{"m", shape.m}, {"n", shape.n}, {"k", shape.k}, {"gflops", shape.gflops}});
  }
  json["memory_bandwidth_gbs"] = probe.memory_bandwidth_gbs;
  json["fp32_peak_gflops"] = probe.peak.fp32_gflops;
  json["bf16_peak_gflops"] = probe.peak.bf16_gflops;
  json["fp32_peak_isa"] = probe.peak.fp32_isa;
  json["bf16_peak_isa"] = probe.peak.bf16_isa;
  return json.dump();
}

}  // namespace tessera

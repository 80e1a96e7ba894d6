// ClusterSpec: the hardware a job runs on, as the planner sees it. Plain data + TOML parsing; the
// catalog files under catalog/ (accelerators.toml, clusters.toml) are lists of these.
//
//   AcceleratorSpec  one chip: peak dense FLOP/s per number format, HBM, its scale-up and scale-out links,
//                    power, and the per-generation efficiency constants the planner uses (docs/planner.md).
//   ClusterSpec      accelerators in nodes, a scale-up domain (NVLink/NVL72/ICI slice) and a scale-out
//                    network (fat-tree, rail-optimised Ethernet, torus), plus facility figures (PUE, prices).
//
// Units are the ones vendors print: TFLOP/s, GiB, TB/s, GB/s (unidirectional per accelerator), Gb/s for NICs,
// microseconds for latencies, watts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace tessera {

// The number format a GEMM runs in; fp4 exists only in the planner (NVFP4 on Blackwell).
enum class GemmFormat { kFp32, kBf16, kFp8, kFp4 };
const char* gemm_format_name(GemmFormat f);

struct AcceleratorSpec {
  std::string name;          // catalog key, e.g. "h100-sxm-80gb"
  std::string generation;    // efficiency class, e.g. "hopper"; constants are fitted per generation
  double peak_fp32_tflops = 0;
  double peak_bf16_tflops = 0;  // dense (no sparsity)
  double peak_fp8_tflops = 0;   // 0 = not supported (falls back to bf16)
  double peak_fp4_tflops = 0;   // 0 = not supported (falls back to fp8)
  double hbm_gib = 0;
  double hbm_tb_per_s = 0;
  double scaleup_gb_per_s = 0;    // unidirectional per accelerator (NVLink, xGMI, ICI)
  int64_t scaleup_domain = 1;     // accelerators in one scale-up domain
  double scaleout_gbit_per_s = 0; // NIC bandwidth per accelerator
  double host_link_gb_per_s = 0;  // to host memory, unidirectional per accelerator (PCIe, NVLink-C2C); 0 = unknown
  double tdp_w = 0;
  // Efficiency constants: achieved fraction of the dense peak for the whole transformer step at large
  // GEMM sizes (kernels, launch gaps, framework overheads), per format. Fitted per generation.
  double efficiency_bf16 = 0.5;
  double efficiency_fp8 = 0.4;
  double efficiency_fp4 = 0.3;
  // Reliability: accelerator-hours per unexpected job interruption (includes the host's share).
  double hours_per_failure = 50700;
  double price_per_hour = 0;  // rental price of one accelerator-hour, USD (0 = unknown)

  double peak_tflops(GemmFormat f) const;   // with fallbacks to the next wider format
  double efficiency(GemmFormat f) const;    // the constant that goes with peak_tflops(f)
  Status validate() const;
};

struct ClusterSpec {
  std::string name;           // catalog key, e.g. "dgx-h100-superpod"
  std::string description;
  std::string accelerator;    // AcceleratorSpec::name
  int64_t accelerators_per_node = 8;
  int64_t scaleup_domain = 0;        // 0 = the accelerator's own domain (NVL72 racks set 72)
  double scaleup_gb_per_s = 0;       // 0 = the accelerator's figure
  double scaleup_latency_us = 3;
  std::string scaleout_topology = "fat-tree";  // fat-tree | rail-optimized | torus | shared-memory
  double scaleout_gbit_per_s = 0;    // per accelerator; 0 = the accelerator's figure
  double scaleout_latency_us = 10;
  double scaleout_efficiency = 0.8;  // achieved fraction of NIC line rate for large collectives
  double scaleup_efficiency = 0.8;
  int64_t max_accelerators = 0;      // 0 = unbounded
  double node_power_w = 0;           // whole node at load incl. accelerators; 0 = accelerators·tdp·1.5
  double pue = 1.2;
  double price_per_kwh = 0.10;       // USD

  Status validate() const;
};

// Parse one [[accelerator]] / [[cluster]] table; the message names the origin and the key.
StatusOr<AcceleratorSpec> parse_accelerator_spec(const toml::table& table, const std::string& origin);
StatusOr<ClusterSpec> parse_cluster_spec(const toml::table& table, const std::string& origin);

}  // namespace tessera

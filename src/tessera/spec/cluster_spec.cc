#include "tessera/spec/cluster_spec.h"

#include <toml++/toml.h>

namespace tessera {

const char* gemm_format_name(GemmFormat f) {
  switch (f) {
    case GemmFormat::kFp32: return "fp32";
    case GemmFormat::kBf16: return "bf16";
    case GemmFormat::kFp8: return "fp8";
    case GemmFormat::kFp4: return "fp4";
  }
  return "?";
}

double AcceleratorSpec::peak_tflops(GemmFormat f) const {
  switch (f) {
    case GemmFormat::kFp4: if (peak_fp4_tflops > 0) return peak_fp4_tflops; [[fallthrough]];
    case GemmFormat::kFp8: if (peak_fp8_tflops > 0) return peak_fp8_tflops; [[fallthrough]];
    case GemmFormat::kBf16: if (peak_bf16_tflops > 0) return peak_bf16_tflops; [[fallthrough]];
    case GemmFormat::kFp32: return peak_fp32_tflops;
  }
  return peak_fp32_tflops;
}

double AcceleratorSpec::efficiency(GemmFormat f) const {
  switch (f) {
    case GemmFormat::kFp4: if (peak_fp4_tflops > 0) return efficiency_fp4; [[fallthrough]];
    case GemmFormat::kFp8: if (peak_fp8_tflops > 0) return efficiency_fp8; [[fallthrough]];
    case GemmFormat::kBf16: if (peak_bf16_tflops > 0) return efficiency_bf16; [[fallthrough]];
    case GemmFormat::kFp32: return efficiency_bf16;
  }
  return efficiency_bf16;
}

Status AcceleratorSpec::validate() const {
  if (name.empty()) return invalid_argument_error("accelerator: expected a non-empty name");
  if (peak_bf16_tflops <= 0 && peak_fp32_tflops <= 0) {
    return invalid_argument_error("accelerator '{}': expected peak_bf16_tflops or peak_fp32_tflops > 0", name);
  }
  if (hbm_gib <= 0) return invalid_argument_error("accelerator '{}': hbm_gib: expected > 0, found {}", name, hbm_gib);
  if (hbm_tb_per_s <= 0) {
    return invalid_argument_error("accelerator '{}': hbm_tb_per_s: expected > 0, found {}", name, hbm_tb_per_s);
  }
  for (double e : {efficiency_bf16, efficiency_fp8, efficiency_fp4}) {
    if (e <= 0 || e > 1) return invalid_argument_error("accelerator '{}': efficiency: expected in (0, 1], found {}", name, e);
  }
  if (scaleup_domain < 1) {
    return invalid_argument_error("accelerator '{}': scaleup_domain: expected >= 1, found {}", name, scaleup_domain);
  }
  if (host_link_gb_per_s < 0) {
    return invalid_argument_error("accelerator '{}': host_link_gb_per_s: expected >= 0, found {}", name,
                                  host_link_gb_per_s);
  }
  return Status();
}

Status ClusterSpec::validate() const {
  if (name.empty()) return invalid_argument_error("cluster: expected a non-empty name");
  if (accelerator.empty()) return invalid_argument_error("cluster '{}': accelerator: expected a name", name);
  if (accelerators_per_node < 1) {
    return invalid_argument_error("cluster '{}': accelerators_per_node: expected >= 1, found {}", name,
                                  accelerators_per_node);
  }
  if (pue < 1) return invalid_argument_error("cluster '{}': pue: expected >= 1, found {}", name, pue);
  if (scaleout_efficiency <= 0 || scaleout_efficiency > 1 || scaleup_efficiency <= 0 || scaleup_efficiency > 1) {
    return invalid_argument_error("cluster '{}': link efficiencies must lie in (0, 1]", name);
  }
  if (scaleout_topology != "fat-tree" && scaleout_topology != "rail-optimized" && scaleout_topology != "torus" &&
      scaleout_topology != "shared-memory") {
    return invalid_argument_error(
        "cluster '{}': scaleout_topology: expected fat-tree, rail-optimized, torus or shared-memory, found '{}'", name,
        scaleout_topology);
  }
  return Status();
}

namespace {

// Reads typed optional keys from a TOML table and remembers the first type error.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string origin) : table_(table), origin_(std::move(origin)) {}
  void number(const char* key, double* out) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    if (auto v = node->value<double>()) {
      *out = *v;
    } else {
      fail(key, "a number");
    }
  }
  void integer(const char* key, int64_t* out) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    if (auto v = node->value<int64_t>()) {
      *out = *v;
    } else {
      fail(key, "an integer");
    }
  }
  void string(const char* key, std::string* out) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    if (auto v = node->value<std::string>()) {
      *out = *v;
    } else {
      fail(key, "a string");
    }
  }
  const Status& status() const { return status_; }

 private:
  void fail(const char* key, const char* expected) {
    if (status_.ok()) status_ = invalid_argument_error("{}: key '{}': expected {}", origin_, key, expected);
  }
  const toml::table& table_;
  std::string origin_;
  Status status_;
};

}  // namespace

StatusOr<AcceleratorSpec> parse_accelerator_spec(const toml::table& table, const std::string& origin) {
  AcceleratorSpec a;
  TableReader r(table, origin);
  r.string("name", &a.name);
  r.string("generation", &a.generation);
  r.number("peak_fp32_tflops", &a.peak_fp32_tflops);
  r.number("peak_bf16_tflops", &a.peak_bf16_tflops);
  r.number("peak_fp8_tflops", &a.peak_fp8_tflops);
  r.number("peak_fp4_tflops", &a.peak_fp4_tflops);
  r.number("hbm_gib", &a.hbm_gib);
  r.number("hbm_tb_per_s", &a.hbm_tb_per_s);
  r.number("scaleup_gb_per_s", &a.scaleup_gb_per_s);
  r.integer("scaleup_domain", &a.scaleup_domain);
  r.number("scaleout_gbit_per_s", &a.scaleout_gbit_per_s);
  r.number("host_link_gb_per_s", &a.host_link_gb_per_s);
  r.number("tdp_w", &a.tdp_w);
  r.number("efficiency_bf16", &a.efficiency_bf16);
  r.number("efficiency_fp8", &a.efficiency_fp8);
  r.number("efficiency_fp4", &a.efficiency_fp4);
  r.number("hours_per_failure", &a.hours_per_failure);
  r.number("price_per_hour", &a.price_per_hour);
  TESSERA_RETURN_IF_ERROR(r.status());
  TESSERA_RETURN_IF_ERROR(a.validate().with_context(origin));
  return a;
}

StatusOr<ClusterSpec> parse_cluster_spec(const toml::table& table, const std::string& origin) {
  ClusterSpec c;
  TableReader r(table, origin);
  r.string("name", &c.name);
  r.string("description", &c.description);
  r.string("accelerator", &c.accelerator);
  r.integer("accelerators_per_node", &c.accelerators_per_node);
  r.integer("scaleup_domain", &c.scaleup_domain);
  r.number("scaleup_gb_per_s", &c.scaleup_gb_per_s);
  r.number("scaleup_latency_us", &c.scaleup_latency_us);
  r.string("scaleout_topology", &c.scaleout_topology);
  r.number("scaleout_gbit_per_s", &c.scaleout_gbit_per_s);
  r.number("scaleout_latency_us", &c.scaleout_latency_us);
  r.number("scaleout_efficiency", &c.scaleout_efficiency);
  r.number("scaleup_efficiency", &c.scaleup_efficiency);
  r.integer("max_accelerators", &c.max_accelerators);
  r.number("node_power_w", &c.node_power_w);
  r.number("pue", &c.pue);
  r.number("price_per_kwh", &c.price_per_kwh);
  TESSERA_RETURN_IF_ERROR(r.status());
  TESSERA_RETURN_IF_ERROR(c.validate().with_context(origin));
  return c;
}

}  // namespace tessera

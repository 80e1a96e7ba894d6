// DeviceModel: how fast one accelerator runs the three kinds of work in a training step — GEMMs, the
// attention core and memory-bound kernels (norms, activations, residuals, softmax, optimizer). The step
// model only asks these three questions, so a GPU from the catalog and this machine's CPU fitted from
// `tessera bench` (calibrate.h) plug in the same way.
#pragma once

#include <array>
#include <string>

#include "tessera/plan/attention_kernel.h"
#include "tessera/spec/cluster_spec.h"

namespace tessera::plan {

class DeviceModel {
 public:
  virtual ~DeviceModel() = default;
  // Seconds for C[m×n] = A[m×k]·B[k×n] (2·m·n·k FLOPs).
  virtual double gemm_seconds(double m, double n, double k) const = 0;
  // The same GEMM in number format `format` (a part of the model in another format than the job's: gemm_parts.h).
  // Devices with one GEMM rate (a CPU fitted from `tessera bench`) ignore the format.
  virtual double gemm_seconds_in(GemmFormat format, double m, double n, double k) const {
    (void)format;
    return gemm_seconds(m, n, k);
  }
  // Seconds for `flops` of attention core (QKᵀ, softmax, A·V) at sequence length t per head of size hs.
  virtual double attention_seconds(double flops, double t, double hs) const = 0;
  // Seconds for `flops` of flash-attention forward (the backward is 2.5× that work at the same rate) run by
  // `kernel`, one call over `seq` keys per head of size hs. Devices without a kernel table use attention_seconds.
  virtual double flash_attention_seconds(double flops, double seq, double hs, bool causal,
                                         AttentionKernel kernel) const {
    (void)causal, (void)kernel;
    return attention_seconds(flops, seq, hs);
  }
  // Seconds to stream `bytes` through memory (read + write counted).
  virtual double memory_seconds(double bytes) const = 0;
  // Bytes per activation element in memory-bound kernels (2 for bf16 runs, 4 for fp32).
  virtual double activation_bytes() const = 0;
};

// A catalog accelerator: rate = peak(format) · efficiency(format) · size(m)·size(n)·size(k), with
// size(d) = d / (d + kGemmHalfDim): small GEMM dimensions fill fewer tiles and waves. Flash attention runs at the
// published kernel figures of the generation (attention_kernel.h) × the dense bf16 peak; unfused attention, the
// Mamba scan and generations without figures at the bf16 rate × a size factor in t and hs; memory-bound kernels
// at kMemoryEfficiency of the HBM bandwidth.
class AcceleratorDevice final : public DeviceModel {
 public:
  static constexpr double kGemmHalfDim = 64;
  static constexpr double kMemoryEfficiency = 0.7;

  AcceleratorDevice(const AcceleratorSpec& spec, GemmFormat format, bool fp32_activations = false);
  double gemm_seconds(double m, double n, double k) const override;
  double gemm_seconds_in(GemmFormat format, double m, double n, double k) const override;
  double attention_seconds(double flops, double t, double hs) const override;
  double flash_attention_seconds(double flops, double seq, double hs, bool causal,
                                 AttentionKernel kernel) const override;
  double memory_seconds(double bytes) const override;
  double activation_bytes() const override { return fp32_activations_ ? 4 : 2; }

 private:
  double gemm_flops_per_s_;
  std::array<double, 4> format_flops_per_s_;  // peak × efficiency of each GemmFormat, by its enum value
  double attention_flops_per_s_;
  double bf16_peak_flops_per_s_;
  std::string generation_;
  double bytes_per_s_;
  bool fp32_activations_;
};

}  // namespace tessera::plan

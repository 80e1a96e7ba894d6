#include "tessera/plan/device_model.h"

namespace tessera::plan {

AcceleratorDevice::AcceleratorDevice(const AcceleratorSpec& spec, GemmFormat format, bool fp32_activations)
    : gemm_flops_per_s_(spec.peak_tflops(format) * 1e12 * spec.efficiency(format)),
      attention_flops_per_s_(spec.peak_tflops(format == GemmFormat::kFp32 ? GemmFormat::kFp32 : GemmFormat::kBf16) *
                             1e12 * spec.efficiency(format == GemmFormat::kFp32 ? GemmFormat::kFp32 : GemmFormat::kBf16)),
      bf16_peak_flops_per_s_(spec.peak_tflops(GemmFormat::kBf16) * 1e12),
      generation_(spec.generation),
      bytes_per_s_(spec.hbm_tb_per_s * 1e12 * kMemoryEfficiency),
      fp32_activations_(fp32_activations) {
  for (GemmFormat f : {GemmFormat::kFp32, GemmFormat::kBf16, GemmFormat::kFp8, GemmFormat::kFp4}) {
    format_flops_per_s_[static_cast<size_t>(f)] = spec.peak_tflops(f) * 1e12 * spec.efficiency(f);
  }
}

double AcceleratorDevice::gemm_seconds(double m, double n, double k) const {
  const double size = (m / (m + kGemmHalfDim)) * (n / (n + kGemmHalfDim)) * (k / (k + kGemmHalfDim));
  return 2.0 * m * n * k / (gemm_flops_per_s_ * size);
}

double AcceleratorDevice::gemm_seconds_in(GemmFormat format, double m, double n, double k) const {
  const double size = (m / (m + kGemmHalfDim)) * (n / (n + kGemmHalfDim)) * (k / (k + kGemmHalfDim));
  return 2.0 * m * n * k / (format_flops_per_s_[static_cast<size_t>(format)] * size);
}

double AcceleratorDevice::attention_seconds(double flops, double t, double hs) const {
  const double size = (t / (t + kGemmHalfDim)) * (hs / (hs + kGemmHalfDim / 2));
  return flops / (attention_flops_per_s_ * size);
}

double AcceleratorDevice::flash_attention_seconds(double flops, double seq, double hs, bool causal,
                                                  AttentionKernel kernel) const {
  const double fraction = flash_attention_fraction(generation_, kernel, seq, hs, causal);
  if (fraction <= 0 || bf16_peak_flops_per_s_ <= 0) return attention_seconds(flops, seq, hs);
  return flops / (bf16_peak_flops_per_s_ * fraction);
}

double AcceleratorDevice::memory_seconds(double bytes) const { return bytes / bytes_per_s_; }

}  // namespace tessera::plan

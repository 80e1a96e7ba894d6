#include "tessera/train/mfu_peak.h"

#include <fmt/format.h>

#include "tessera/kernels/peak_probe.h"

namespace tessera {

StatusOr<MfuPeak> resolve_mfu_peak(const TrainConfig& config, int threads, Communicator& world) {
  const bool bf16 = config.parallel.precision == Precision::kBf16;
  const double configured = bf16 ? config.peak_gflops_per_thread_bf16 : config.peak_gflops_per_thread;
  double rank_gflops = 0.0;
  std::string what;
  if (configured > 0) {
    rank_gflops = configured * threads;
    what = fmt::format("configured: {} = {:g} GFLOP/s per thread",
                       bf16 ? "train.peak_gflops_per_thread_bf16" : "train.peak_gflops_per_thread", configured);
  } else {
    constexpr double kSecondsPerPrecision = 0.02;
    const PeakFlops probed = probe_peak_flops(threads, kSecondsPerPrecision);
    if (bf16 && probed.bf16_gflops > 0) {
      rank_gflops = probed.bf16_gflops;
      what = fmt::format("probed: bf16 dot-product loop ({})", probed.bf16_isa);
    } else {
      rank_gflops = probed.fp32_gflops;
      what = fmt::format("probed: fp32 FMA loop ({}){}", probed.fp32_isa,
                         bf16 ? "; this CPU has no bf16 dot product" : "");
    }
  }
  double job_gflops = rank_gflops;
  TESSERA_RETURN_IF_ERROR(world.all_reduce(&job_gflops, 1, ReduceOp::kSum).with_context("MFU peak"));
  const int ranks = world.size();
  return MfuPeak{.gflops = job_gflops,
                 .source = fmt::format("{}, {} thread{} x {} rank{}", what, threads, threads == 1 ? "" : "s", ranks,
                                       ranks == 1 ? "" : "s")};
}

}  // namespace tessera

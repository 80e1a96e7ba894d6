#include "tessera/plan/attention_kernel.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace tessera::plan {

namespace {

// Benchmarked sequence lengths (keys per call), 512 … 16k: every table below has one value per length.
constexpr std::array<double, 6> kSeq = {512, 1024, 2048, 4096, 8192, 16384};
using Curve = std::array<double, 6>;  // TFLOP/s at each kSeq

// One kernel on one benchmarked part: forward without and with the causal mask, backward without it, head size
// 128, bf16, TFLOP/s, and the part's dense bf16 peak. fraction()'s forward and backward scales carry a curve to
// another generation whose published figures are plateau values (the shape over t stays the benchmarked part's).
struct KernelCurves {
  Curve fwd_full, fwd_causal, bwd_full;
  double peak_tflops;
};

// H100 80GB SXM5 (989 dense bf16 TFLOP/s), head dim 128, bf16, batch·seqlen = 16k, 2048 hidden: Shah et al. 2024,
// "FlashAttention-3: Fast and Accurate Attention with Asynchrony and Low-precision" (arXiv 2407.08608), Figure 5
// (forward, without and with causal mask) and Figure 6 (backward, without causal mask), the FlashAttention-2 and
// cuDNN bars (cuDNN 9 as benchmarked there). The paper gives no causal backward; see causal_backward below.
constexpr KernelCurves kHopperFlash2 = {
    .fwd_full = {309, 350, 362, 368, 370, 370},
    .fwd_causal = {191, 260, 298, 319, 333, 335},
    .bwd_full = {214, 260, 291, 310, 318, 322},
    .peak_tflops = 989.4,
};
constexpr KernelCurves kHopperCudnn = {
    .fwd_full = {497, 574, 617, 609, 600, 595},
    .fwd_causal = {315, 410, 484, 518, 529, 539},
    .bwd_full = {305, 408, 465, 499, 518, 516},
    .peak_tflops = 989.4,
};

// A100 80GB SXM4 (312 dense bf16 TFLOP/s): Dao 2023, "FlashAttention-2: Faster Attention with Better Parallelism
// and Work Partitioning" (arXiv 2307.08691): 50–73% of A100's peak (abstract); the forward up to 73% and the backward
// 63% (§4.1; the backward figure is unverified here, docs/planner.md says so). Those plateaus, with the
// FlashAttention-2 curve's shape over t as FlashAttention-3's Figure 5/6 measured it on H100 (the same kernel).
// Transformer Engine runs flash-attn v2 on Ampere, so both families.
constexpr double kAmpereFwdPlateau = 0.73, kAmpereBwdPlateau = 0.63, kAmperePeak = 312;

// Blackwell has no table: the one published figure (FlashAttention-4's 1605 TFLOP/s forward on B200, up to 1.3×
// cuDNN 9.13; Together AI blog "FlashAttention-4", March 2026) gives no backward, and a table built on it with
// Hopper's cuDNN backward/forward ratio made the dense B200 rows 5 points too fast (docs/planner.md "Flash
// attention per generation": tried, not kept). Blackwell and every other generation keep the step model's law.

enum class Family { kNone, kAmpere, kHopper };

Family family_of(std::string_view generation) {
  if (generation == "ampere") return Family::kAmpere;
  if (generation == "hopper" || generation == "hopper-500w") return Family::kHopper;
  return Family::kNone;
}

// Index and weight of `seq` on kSeq in log2: value = (1−w)·c[i] + w·c[i+1], flat outside 512…16k.
struct LogPoint {
  size_t i = 0;
  double w = 0;
};
LogPoint locate(double seq) {
  if (seq <= kSeq.front()) return {0, 0};
  if (seq >= kSeq.back()) return {kSeq.size() - 2, 1};
  size_t i = 0;
  while (seq > kSeq[i + 1]) ++i;
  return {i, (std::log2(seq) - std::log2(kSeq[i])) / (std::log2(kSeq[i + 1]) - std::log2(kSeq[i]))};
}
double at(const Curve& c, LogPoint p) { return (1 - p.w) * c[p.i] + p.w * c[p.i + 1]; }

// Forward + backward throughput of 3.5 units of work: forward 1 at `fwd`, backward 2.5 at `bwd`.
double combined(double fwd, double bwd) { return 3.5 / (1 / fwd + 2.5 / bwd); }

// Fraction of `peak` for forward + backward at `p` after scaling the forward curve by `fs` and the backward by `bs`.
// The causal backward is not published: it is taken to lose to the mask what the forward loses (bwd_full ×
// fwd_causal / fwd_full at the same length), the one assumption of the table.
double fraction(const KernelCurves& k, LogPoint p, bool causal, double fs, double bs, double peak) {
  const double fwd_full = fs * at(k.fwd_full, p), bwd_full = bs * at(k.bwd_full, p);
  if (!causal) return combined(fwd_full, bwd_full) / peak;
  const double fwd_causal = fs * at(k.fwd_causal, p);
  return combined(fwd_causal, bwd_full * fwd_causal / fwd_full) / peak;
}

}  // namespace

double flash_attention_fraction(std::string_view generation, AttentionKernel kernel, double seq, double head_dim,
                                bool causal) {
  const LogPoint p = locate(seq);
  double f = 0;
  switch (family_of(generation)) {
    case Family::kNone:
      return 0;
    case Family::kHopper: {
      const KernelCurves& k = kernel == AttentionKernel::kFused ? kHopperCudnn : kHopperFlash2;
      f = fraction(k, p, causal, 1, 1, k.peak_tflops);
      break;
    }
    case Family::kAmpere: {
      const KernelCurves& k = kHopperFlash2;
      const double fs = kAmpereFwdPlateau * kAmperePeak / k.fwd_full.back();
      const double bs = kAmpereBwdPlateau * kAmperePeak / k.bwd_full.back();
      f = fraction(k, p, causal, fs, bs, kAmperePeak);
      break;
    }
  }
  // Head sizes: the H100 figures at head dim 256 are within −12% (FlashAttention-2), −2% (cuDNN) and +17%
  // (FlashAttention-3) of 128's at 16k, so larger heads keep 128's figure; smaller ones fill fewer tensor-core
  // tiles and scale as the step model's size law did, s(d) = d/(d+32).
  if (head_dim < 128) f *= (head_dim / (head_dim + 32)) / (128.0 / 160.0);
  return f;
}

}  // namespace tessera::plan

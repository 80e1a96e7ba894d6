// Register-only multiply-add loops for the peak FLOP/s (see peak_probe.h).
#include "tessera/kernels/peak_probe.h"

#include <immintrin.h>
#include <omp.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <vector>
#include <fmt/format.h>

#include "tessera/kernels/kernel_backend.h"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kAccumulators = 12;        // independent dependency chains per thread
constexpr int64_t kIterations = 1 << 19;  // per repetition: ~1 ms on a Zen 5 core (fork/join ~1% of it)

#if defined(__AVX512F__)
// The 16 lanes' sum (GCC 12's _mm512_reduce_add_ps trips -Wuninitialized inside its own header).
float sum_lanes(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float total = 0.0f;
  for (float lane : lanes) total += lane;
  return total;
}
#endif

// One repetition on one thread: kIterations × kAccumulators vector multiply-adds. Returns a value that
// depends on every accumulator, so that the compiler keeps the loop.
#if defined(__AVX512F__)
constexpr const char* kFp32Isa = "avx512f";
constexpr double kFp32FlopsPerOp = 2.0 * 16;  // 16 fp32 lanes
float fp32_repetition(float seed) {
  __m512 acc[kAccumulators];
  for (int a = 0; a < kAccumulators; ++a) acc[a] = _mm512_set1_ps(seed + 0.001f * static_cast<float>(a));
  const __m512 mul = _mm512_set1_ps(0.9999999f);
  const __m512 add = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < kIterations; ++i) {
    for (int a = 0; a < kAccumulators; ++a) acc[a] = _mm512_fmadd_ps(acc[a], mul, add);
  }
  __m512 sum = acc[0];
  for (int a = 1; a < kAccumulators; ++a) sum = _mm512_add_ps(sum, acc[a]);
  return sum_lanes(sum);
}
#elif defined(__AVX2__) && defined(__FMA__)
constexpr const char* kFp32Isa = "avx2+fma";
constexpr double kFp32FlopsPerOp = 2.0 * 8;  // 8 fp32 lanes
float fp32_repetition(float seed) {
  __m256 acc[kAccumulators];
  for (int a = 0; a < kAccumulators; ++a) acc[a] = _mm256_set1_ps(seed + 0.001f * static_cast<float>(a));
  const __m256 mul = _mm256_set1_ps(0.9999999f);
  const __m256 add = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < kIterations; ++i) {
    for (int a = 0; a < kAccumulators; ++a) acc[a] = _mm256_fmadd_ps(acc[a], mul, add);
  }
  alignas(32) float lanes[8];
  __m256 sum = acc[0];
  for (int a = 1; a < kAccumulators; ++a) sum = _mm256_add_ps(sum, acc[a]);
  _mm256_store_ps(lanes, sum);
  float total = 0.0f;
  for (float lane : lanes) total += lane;
  return total;
}
#else
constexpr const char* kFp32Isa = "scalar";
constexpr double kFp32FlopsPerOp = 2.0;
float fp32_repetition(float seed) {
  float acc[kAccumulators];
  for (int a = 0; a < kAccumulators; ++a) acc[a] = seed + 0.001f * static_cast<float>(a);
  for (int64_t i = 0; i < kIterations; ++i) {
    for (int a = 0; a < kAccumulators; ++a) acc[a] = acc[a] * 0.9999999f + 1e-7f;
  }
  float total = 0.0f;
  for (float v : acc) total += v;
  return total;
}
#endif

#if defined(__AVX512BF16__) && defined(__AVX512F__)
constexpr const char* kBf16Isa = "avx512_bf16";
constexpr double kBf16FlopsPerOp = 4.0 * 16;  // 16 fp32 lanes, each c + a0·b0 + a1·b1
float bf16_repetition(float seed) {
  __m512 acc[kAccumulators];
  for (int a = 0; a < kAccumulators; ++a) acc[a] = _mm512_set1_ps(seed + 0.001f * static_cast<float>(a));
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4f), _mm512_set1_ps(1e-4f));
  for (int64_t i = 0; i < kIterations; ++i) {
    for (int a = 0; a < kAccumulators; ++a) acc[a] = _mm512_dpbf16_ps(acc[a], x, y);
  }
  __m512 sum = acc[0];
  for (int a = 1; a < kAccumulators; ++a) sum = _mm512_add_ps(sum, acc[a]);
  return sum_lanes(sum);
}
constexpr bool kHasBf16 = true;
#else
constexpr const char* kBf16Isa = "";
constexpr double kBf16FlopsPerOp = 0.0;
float bf16_repetition(float seed) { return seed; }
constexpr bool kHasBf16 = false;
#endif

// This thread's CPU time in seconds: it advances only while the thread runs, so a repetition timed with it
// is not slowed down by other processes that share the core (they take turns; the FMA units are the
// core's own while it runs this thread).
double thread_cpu_seconds() {
  timespec now;
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Runs `repetition` on every thread at once (one parallel region per repetition) until `seconds` of wall
// time have passed, at least kMinRepetitions times; each thread keeps its fastest repetition in its own CPU
// time. Returns the sum over threads of their fastest rates: the FLOP/s the threads reach together, each on
// a core of its own.
template <typename Repetition>
double fastest_rate(int threads, double seconds, double flops_per_thread, Repetition repetition) {
  constexpr int kMinRepetitions = 5;
  std::vector<double> fastest(static_cast<size_t>(threads), 0.0);
  float sink = 0.0f;
  const Clock::time_point start = Clock::now();
  for (int rep = 0;; ++rep) {
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      const int thread = omp_get_thread_num();
      const double begin = thread_cpu_seconds();
      sink += repetition(static_cast<float>(thread + rep) * 1e-3f);
      const double elapsed = thread_cpu_seconds() - begin;
      // Repetition 0 warms the core up (clock ramp, page-in of the code) and is not counted.
      double& best = fastest[static_cast<size_t>(thread)];
      if (rep > 0 && (best == 0.0 || elapsed < best)) best = elapsed;
    }
    if (rep >= kMinRepetitions && std::chrono::duration<double>(Clock::now() - start).count() >= seconds) break;
  }
  asm volatile("" : : "r"(&sink) : "memory");  // the loops' results are used
  double rate = 0.0;
  for (double best : fastest) rate += best > 0.0 ? flops_per_thread / best : 0.0;
  return rate;
}

}  // namespace

PeakFlops probe_peak_flops(int threads, double seconds_per_precision) {
  PeakFlops peak;
  peak.threads = threads > 0 ? threads : kernel_threads();
  const Clock::time_point start = Clock::now();
  const double ops_per_thread = static_cast<double>(kIterations) * kAccumulators;
  peak.fp32_isa = kFp32Isa;
  peak.fp32_gflops =
      fastest_rate(peak.threads, seconds_per_precision, ops_per_thread * kFp32FlopsPerOp, fp32_repetition) / 1e9;
  if (kHasBf16) {
    peak.bf16_isa = kBf16Isa;
    peak.bf16_gflops =
        fastest_rate(peak.threads, seconds_per_precision, ops_per_thread * kBf16FlopsPerOp, bf16_repetition) / 1e9;
  }
  peak.probe_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return peak;
}

std::string describe_peak_flops(const PeakFlops& peak) {
  std::string text = fmt::format("fp32 {:.1f} GFLOP/s ({})", peak.fp32_gflops, peak.fp32_isa);
  if (peak.bf16_gflops > 0) text += fmt::format(", bf16 {:.1f} GFLOP/s ({})", peak.bf16_gflops, peak.bf16_isa);
  return text + fmt::format(", {} thread{}", peak.threads, peak.threads == 1 ? "" : "s");
}

}  // namespace tessera

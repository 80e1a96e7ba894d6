// Fast-kernel micro-benchmarks at the `small` training shape (L=6, NH=6, C=384, T=256, B=8, V=50257,
// fp32, and the bf16 LM head per token chunk), plus one benchmark that runs every kernel of a whole training
// step in model order.
//
//   tessera_kernels_bench [--benchmark_filter=...]      threads from TESSERA_KERNEL_THREADS (default 2)
//
// Counters: "GFLOP/s" for matmuls and attention (attention counts only the causal half:
// 2·B·NH·T²·HS per T×T product pair), "GB/s" for memory-bound kernels (bytes each kernel must move at
// least once), "tok/s" for the whole step. Compare with DESIGN.md: sgemm ~190–210 GFLOP/s and STREAM
// ~30 GB/s on 2 cores; the PyTorch peer trains ~655–675 tok/s.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tessera/kernels/bf16_gemm.h"
#include "tessera/kernels/fast_backend.h"

namespace tessera {
namespace {

constexpr int64_t kB = 8, kT = 256, kC = 384, kNH = 6, kV = 50257, kL = 6;
constexpr int64_t kN = kB * kT;

std::vector<float> random_buffer(int64_t n, float scale = 1.0f) {
  std::mt19937 gen(static_cast<uint32_t>(n));
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

std::vector<int32_t> random_tokens(int64_t n) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<int32_t> dist(0, kV - 1);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t& x : v) x = dist(gen);
  return v;
}

void set_rate(benchmark::State& state, const char* name, double per_iteration_units) {
  state.counters[name] = benchmark::Counter(per_iteration_units, benchmark::Counter::kIsIterationInvariantRate);
}

// args: C, OC
void BM_MatmulForward(benchmark::State& state) {
  const int64_t C = state.range(0), OC = state.range(1);
  FastBackend fast;
  const std::vector<float> inp = random_buffer(kN * C), weight = random_buffer(OC * C, 0.02f), bias = random_buffer(OC);
  std::vector<float> out(static_cast<size_t>(kN * OC));
  const float* b = OC == kV ? nullptr : bias.data();  // the tied LM head has no bias
  for (auto _ : state) fast.matmul_forward(out.data(), inp.data(), weight.data(), b, kN, C, OC);
  set_rate(state, "GFLOP/s", 2.0 * kN * C * OC / 1e9);
}

void BM_MatmulBackward(benchmark::State& state) {
  const int64_t C = state.range(0), OC = state.range(1);
  FastBackend fast;
  const std::vector<float> inp = random_buffer(kN * C), weight = random_buffer(OC * C, 0.02f),
                           dout = random_buffer(kN * OC);
  std::vector<float> dinp(static_cast<size_t>(kN * C)), dweight(static_cast<size_t>(OC * C)), dbias(static_cast<size_t>(OC));
  float* db = OC == kV ? nullptr : dbias.data();
  for (auto _ : state) {
    fast.matmul_backward(dinp.data(), dweight.data(), db, dout.data(), inp.data(), weight.data(), kN, C, OC);
  }
  set_rate(state, "GFLOP/s", 4.0 * kN * C * OC / 1e9);
}

// Tokens per LM-head chunk, as GptModel chooses them at V = 50257 (64 MiB of logits).
constexpr int64_t kHeadRows = 333;

// The bf16 LM head's per-chunk products (GptModel::head_chunk with parallel.precision = "bf16"): forward
// logits[333, V] = x·wteᵀ and backward dx = dlogits·wte, dwte += dlogitsᵀ·x (the wide-output dW path,
// fast_matmul.cc), wte resident in bf16 as in training. Skipped where this CPU has no bf16 matmul.
void BM_HeadChunkBf16(benchmark::State& state) {
  StatusOr<std::unique_ptr<Bf16Gemm>> gemm = Bf16Gemm::create();
  if (!gemm.ok()) {
    state.SkipWithError(gemm.status().message().c_str());
    return;
  }
  FastBackend fast(std::move(gemm).value());
  // part: 0 forward, 1 backward (dx and dwte), 2 dx only, 3 dwte only.
  const int64_t part = state.range(0);
  const bool backward = part != 0;
  const std::vector<float> x = random_buffer(kHeadRows * kC), wte = random_buffer(kV * kC, 0.02f),
                           dlogits = random_buffer(kHeadRows * kV, 1e-5f);
  std::vector<float> logits(static_cast<size_t>(kHeadRows * kV)), dx(static_cast<size_t>(kHeadRows * kC)),
      dwte(static_cast<size_t>(kV * kC));
  fast.set_matmul_weights(wte.data(), kV * kC);
  for (auto _ : state) {
    if (backward) {
      fast.matmul_backward(part == 3 ? nullptr : dx.data(), part == 2 ? nullptr : dwte.data(), nullptr,
                           dlogits.data(), x.data(), wte.data(), kHeadRows, kC, kV);
    } else {
      fast.matmul_forward(logits.data(), x.data(), wte.data(), nullptr, kHeadRows, kC, kV);
    }
  }
  set_rate(state, "GFLOP/s", (part == 1 ? 4.0 : 2.0) * kHeadRows * kC * kV / 1e9);
}
BENCHMARK(BM_HeadChunkBf16)->ArgNames({"part"})->Arg(0)->Arg(1)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond)->UseRealTime();

#define TESSERA_MATMUL_SHAPES                                                                       \
  ArgNames({"C", "OC"})->Args({384, 1152})->Args({384, 384})->Args({384, 1536})->Args({1536, 384}) \
      ->Args({384, kV})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(BM_MatmulForward)->TESSERA_MATMUL_SHAPES;
BENCHMARK(BM_MatmulBackward)->TESSERA_MATMUL_SHAPES;

// Causal FLOPs of one attention forward: the two T×T products (q·kᵀ and P·v) over the causal half,
// 2 · 2 · B·NH · (T²/2) · HS. The backward counts twice that (four products), as is customary, although
// the flash backward also recomputes q·kᵀ.
double attention_causal_flops(int64_t B, int64_t T, int64_t C) { return 2.0 * B * T * T * C; }

// args: B, T, C, NH; at the small shape and at gpt2-124m's T = 1024.
#define TESSERA_ATTENTION_SHAPES                                                                  \
  ArgNames({"B", "T", "C", "NH"})->Args({kB, kT, kC, kNH})->Args({4, 1024, 768, 12})             \
      ->Unit(benchmark::kMillisecond)->UseRealTime()

struct AttentionBuffers {
  int64_t B, T, C, NH;
  std::vector<float> qkv, dout, out, lse, dqkv;
  explicit AttentionBuffers(const benchmark::State& state)
      : B(state.range(0)), T(state.range(1)), C(state.range(2)), NH(state.range(3)),
        qkv(random_buffer(B * T * 3 * C)), dout(random_buffer(B * T * C)),
        out(static_cast<size_t>(B * T * C)), lse(static_cast<size_t>(2 * B * NH * T)),
        dqkv(static_cast<size_t>(B * T * 3 * C)) {}
  void forward(FastBackend& fast) { fast.attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH); }
  void backward(FastBackend& fast) {
    fast.attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, T, C, NH);
  }
};

void BM_AttentionForward(benchmark::State& state) {
  FastBackend fast;
  AttentionBuffers a(state);
  for (auto _ : state) a.forward(fast);
  set_rate(state, "GFLOP/s", attention_causal_flops(a.B, a.T, a.C) / 1e9);
}
BENCHMARK(BM_AttentionForward)->TESSERA_ATTENTION_SHAPES;

void BM_AttentionBackward(benchmark::State& state) {
  FastBackend fast;
  AttentionBuffers a(state);
  a.forward(fast);
  for (auto _ : state) a.backward(fast);
  set_rate(state, "GFLOP/s", 2.0 * attention_causal_flops(a.B, a.T, a.C) / 1e9);
}
BENCHMARK(BM_AttentionBackward)->TESSERA_ATTENTION_SHAPES;

// The target figure: forward + backward, 3× the forward's causal FLOPs per iteration.
void time_attention_forward_backward(benchmark::State& state, FastBackend& fast) {
  AttentionBuffers a(state);
  for (auto _ : state) {
    a.forward(fast);
    a.backward(fast);
  }
  set_rate(state, "GFLOP/s", 3.0 * attention_causal_flops(a.B, a.T, a.C) / 1e9);
}

void BM_AttentionForwardBackward(benchmark::State& state) {
  FastBackend fast;
  time_attention_forward_backward(state, fast);
}
BENCHMARK(BM_AttentionForwardBackward)->TESSERA_ATTENTION_SHAPES;

// The same with bf16 matmuls, where attention runs on bf16 tile products (fast_attention_bf16.cc); against
// the bf16 peak. Skipped where this CPU has no bf16 matmul.
void BM_AttentionForwardBackwardBf16(benchmark::State& state) {
  StatusOr<std::unique_ptr<Bf16Gemm>> gemm = Bf16Gemm::create();
  if (!gemm.ok()) {
    state.SkipWithError(gemm.status().message().c_str());
    return;
  }
  FastBackend fast(std::move(gemm).value());
  time_attention_forward_backward(state, fast);
}
BENCHMARK(BM_AttentionForwardBackwardBf16)->TESSERA_ATTENTION_SHAPES;

void BM_LayernormForward(benchmark::State& state) {
  FastBackend fast;
  const std::vector<float> inp = random_buffer(kN * kC), w = random_buffer(kC), b = random_buffer(kC);
  std::vector<float> out(static_cast<size_t>(kN * kC)), mean(kN), rstd(kN);
  for (auto _ : state) fast.layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), kN, kC);
  set_rate(state, "GB/s", 2.0 * kN * kC * 4 / 1e9);
}
BENCHMARK(BM_LayernormForward)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_LayernormBackward(benchmark::State& state) {
  FastBackend fast;
  const std::vector<float> inp = random_buffer(kN * kC), w = random_buffer(kC), b = random_buffer(kC),
                           dout = random_buffer(kN * kC);
  std::vector<float> out(static_cast<size_t>(kN * kC)), mean(kN), rstd(kN), dinp(static_cast<size_t>(kN * kC)), dw(kC), db(kC);
  fast.layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), kN, kC);
  for (auto _ : state) {
    fast.layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), mean.data(),
                            rstd.data(), kN, kC);
  }
  set_rate(state, "GB/s", 4.0 * kN * kC * 4 / 1e9);  // read inp, dout, dinp; write dinp
}
BENCHMARK(BM_LayernormBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_GeluForward(benchmark::State& state) {
  FastBackend fast;
  const int64_t n = kN * 4 * kC;
  const std::vector<float> inp = random_buffer(n, 3.0f);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : state) fast.gelu_forward(out.data(), inp.data(), n);
  set_rate(state, "GB/s", 2.0 * n * 4 / 1e9);
}
BENCHMARK(BM_GeluForward)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_GeluBackward(benchmark::State& state) {
  FastBackend fast;
  const int64_t n = kN * 4 * kC;
  const std::vector<float> inp = random_buffer(n, 3.0f), dout = random_buffer(n);
  std::vector<float> dinp(static_cast<size_t>(n));
  for (auto _ : state) fast.gelu_backward(dinp.data(), inp.data(), dout.data(), n);
  set_rate(state, "GB/s", 3.0 * n * 4 / 1e9);
}
BENCHMARK(BM_GeluBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Residual(benchmark::State& state) {
  FastBackend fast;
  const int64_t n = kN * kC;
  const std::vector<float> a = random_buffer(n), b = random_buffer(n);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : state) fast.residual_forward(out.data(), a.data(), b.data(), n);
  set_rate(state, "GB/s", 3.0 * n * 4 / 1e9);
}
BENCHMARK(BM_Residual)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_EncoderForwardBackward(benchmark::State& state) {
  FastBackend fast;
  const std::vector<int32_t> tokens = random_tokens(kN);
  const std::vector<float> wte = random_buffer(kV * kC), wpe = random_buffer(kT * kC), dout = random_buffer(kN * kC);
  std::vector<float> out(static_cast<size_t>(kN * kC)), dwte(static_cast<size_t>(kV * kC)), dwpe(static_cast<size_t>(kT * kC));
  for (auto _ : state) {
    fast.encoder_forward(out.data(), tokens.data(), wte.data(), wpe.data(), kB, kT, kC);
    fast.encoder_backward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), kB, kT, kC);
  }
  set_rate(state, "GB/s", 6.0 * kN * kC * 4 / 1e9);
}
BENCHMARK(BM_EncoderForwardBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_CrossentropyForward(benchmark::State& state) {
  FastBackend fast;
  const std::vector<float> logits = random_buffer(kN * kV, 5.0f);
  const std::vector<int32_t> targets = random_tokens(kN);
  std::vector<float> losses(kN), lse(kN);
  for (auto _ : state) fast.crossentropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), kN, kV);
  set_rate(state, "GB/s", 1.0 * kN * kV * 4 / 1e9);
}
BENCHMARK(BM_CrossentropyForward)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CrossentropyBackwardInPlace(benchmark::State& state) {
  FastBackend fast;
  std::vector<float> logits = random_buffer(kN * kV, 5.0f);
  const std::vector<int32_t> targets = random_tokens(kN);
  std::vector<float> losses(kN), lse(kN);
  fast.crossentropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), kN, kV);
  // Repeated in place the values drift towards tiny gradients; the cost per element does not change.
  for (auto _ : state) {
    fast.crossentropy_backward(logits.data(), logits.data(), lse.data(), targets.data(), 1.0f / kN, kN, kV);
  }
  set_rate(state, "GB/s", 2.0 * kN * kV * 4 / 1e9);
}
BENCHMARK(BM_CrossentropyBackwardInPlace)->Unit(benchmark::kMillisecond)->UseRealTime();

// Parameters of the small model: wte, wpe, and per layer ln1, qkv, attproj, ln2, fc, fcproj.
constexpr int64_t kLayerParams = 2 * kC + (3 * kC * kC + 3 * kC) + (kC * kC + kC) + 2 * kC +
                                 (4 * kC * kC + 4 * kC) + (4 * kC * kC + kC);
constexpr int64_t kParams = kV * kC + kT * kC + kL * kLayerParams + 2 * kC;

void BM_AdamW(benchmark::State& state) {
  FastBackend fast;
  std::vector<float> p = random_buffer(kParams), m(static_cast<size_t>(kParams)), v(static_cast<size_t>(kParams));
  const std::vector<float> g = random_buffer(kParams, 0.01f);
  int64_t t = 0;
  for (auto _ : state) fast.adamw_update(p.data(), g.data(), m.data(), v.data(), kParams, 3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, ++t);
  set_rate(state, "GB/s", 7.0 * kParams * 4 / 1e9);  // read p, g, m, v; write p, m, v
}
BENCHMARK(BM_AdamW)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SumSquares(benchmark::State& state) {
  FastBackend fast;
  const std::vector<float> g = random_buffer(kParams);
  for (auto _ : state) benchmark::DoNotOptimize(fast.sum_squares(g.data(), kParams));
  set_rate(state, "GB/s", 1.0 * kParams * 4 / 1e9);
}
BENCHMARK(BM_SumSquares)->Unit(benchmark::kMillisecond)->UseRealTime();

// Every kernel of one training step of the small model, in model order, on one set of layer buffers
// reused by all L layers (the kernel cost, not the model's memory layout, is what this measures).
void BM_TrainingStepKernels(benchmark::State& state) {
  FastBackend fast;
  const int64_t C = kC, C3 = 3 * kC, C4 = 4 * kC;
  const std::vector<int32_t> tokens = random_tokens(kN), targets = random_tokens(kN);
  std::vector<float> params = random_buffer(kParams, 0.02f), grads(static_cast<size_t>(kParams)),
                     m(static_cast<size_t>(kParams)), v(static_cast<size_t>(kParams));
  float* wte = params.data();
  float* wpe = wte + kV * C;
  float* dwte = grads.data();
  float* dwpe = dwte + kV * C;
  // One layer's weights (reused by every layer) and gradients.
  std::vector<float> lw = random_buffer(C), lb(static_cast<size_t>(C)), wqkv = random_buffer(C3 * C, 0.02f),
                     bqkv(static_cast<size_t>(C3)), wproj = random_buffer(C * C, 0.02f), bproj(static_cast<size_t>(C)),
                     wfc = random_buffer(C4 * C, 0.02f), bfc(static_cast<size_t>(C4)),
                     wfcp = random_buffer(C * C4, 0.02f), bfcp(static_cast<size_t>(C));
  std::vector<float> dlw(C), dlb(C), dwqkv(C3 * C), dbqkv(C3), dwproj(C * C), dbproj(C), dwfc(C4 * C), dbfc(C4),
      dwfcp(C * C4), dbfcp(C);
  auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };
  std::vector<float> resid = buf(kN * C), ln = buf(kN * C), mean = buf(kN), rstd = buf(kN), qkv = buf(kN * C3),
                     att_lse = buf(2 * kB * kNH * kT), atty = buf(kN * C), proj = buf(kN * C), fch = buf(kN * C4),
                     fcg = buf(kN * C4), logits = buf(kHeadRows * kV), losses = buf(kN), lse = buf(kN);
  std::vector<float> dresid = buf(kN * C), dln = buf(kN * C), dqkv = buf(kN * C3), datty = buf(kN * C),
                     dfc = buf(kN * C4);
  for (auto _ : state) {
    fast.encoder_forward(resid.data(), tokens.data(), wte, wpe, kB, kT, C);
    for (int64_t l = 0; l < kL; ++l) {
      fast.layernorm_forward(ln.data(), mean.data(), rstd.data(), resid.data(), lw.data(), lb.data(), kN, C);
      fast.matmul_forward(qkv.data(), ln.data(), wqkv.data(), bqkv.data(), kN, C, C3);
      fast.attention_forward(atty.data(), att_lse.data(), qkv.data(), kB, kT, C, kNH);
      fast.matmul_forward(proj.data(), atty.data(), wproj.data(), bproj.data(), kN, C, C);
      fast.residual_forward(resid.data(), resid.data(), proj.data(), kN * C);
      fast.layernorm_forward(ln.data(), mean.data(), rstd.data(), resid.data(), lw.data(), lb.data(), kN, C);
      fast.matmul_forward(fch.data(), ln.data(), wfc.data(), bfc.data(), kN, C, C4);
      fast.gelu_forward(fcg.data(), fch.data(), kN * C4);
      fast.matmul_forward(proj.data(), fcg.data(), wfcp.data(), bfcp.data(), kN, C4, C);
      fast.residual_forward(resid.data(), resid.data(), proj.data(), kN * C);
    }
    fast.layernorm_forward(ln.data(), mean.data(), rstd.data(), resid.data(), lw.data(), lb.data(), kN, C);
    // The LM head and loss in token chunks, with the head's backward right away (GptModel::head_chunk).
    for (int64_t n0 = 0; n0 < kN; n0 += kHeadRows) {
      const int64_t rows = std::min(kHeadRows, kN - n0);
      fast.matmul_forward(logits.data(), ln.data() + n0 * C, wte, nullptr, rows, C, kV);
      fast.crossentropy_forward(losses.data() + n0, lse.data() + n0, logits.data(), targets.data() + n0, rows, kV);
      fast.crossentropy_backward(logits.data(), logits.data(), lse.data() + n0, targets.data() + n0, 1.0f / kN, rows,
                                 kV);
      fast.matmul_backward(dln.data() + n0 * C, dwte, nullptr, logits.data(), ln.data() + n0 * C, wte, rows, C, kV);
    }
    std::fill(dresid.begin(), dresid.end(), 0.0f);
    fast.layernorm_backward(dresid.data(), dlw.data(), dlb.data(), dln.data(), resid.data(), lw.data(), mean.data(),
                            rstd.data(), kN, C);
    for (int64_t l = 0; l < kL; ++l) {
      fast.matmul_backward(dfc.data(), dwfcp.data(), dbfcp.data(), dresid.data(), fcg.data(), wfcp.data(), kN, C4, C);
      fast.gelu_backward(dfc.data(), fch.data(), dfc.data(), kN * C4);
      fast.matmul_backward(dln.data(), dwfc.data(), dbfc.data(), dfc.data(), ln.data(), wfc.data(), kN, C, C4);
      fast.layernorm_backward(dresid.data(), dlw.data(), dlb.data(), dln.data(), resid.data(), lw.data(),
                              mean.data(), rstd.data(), kN, C);
      fast.matmul_backward(datty.data(), dwproj.data(), dbproj.data(), dresid.data(), atty.data(), wproj.data(), kN,
                           C, C);
      fast.attention_backward(dqkv.data(), datty.data(), qkv.data(), atty.data(), att_lse.data(), kB, kT, C, kNH);
      fast.matmul_backward(dln.data(), dwqkv.data(), dbqkv.data(), dqkv.data(), ln.data(), wqkv.data(), kN, C, C3);
      fast.layernorm_backward(dresid.data(), dlw.data(), dlb.data(), dln.data(), resid.data(), lw.data(),
                              mean.data(), rstd.data(), kN, C);
    }
    fast.encoder_backward(dwte, dwpe, dresid.data(), tokens.data(), kB, kT, C);
    benchmark::DoNotOptimize(fast.sum_squares(grads.data(), kParams));
    fast.adamw_update(params.data(), grads.data(), m.data(), v.data(), kParams, 1e-9f, 0.9f, 0.95f, 1e-8f, 0.0f, 1);
  }
  set_rate(state, "tok/s", static_cast<double>(kN));
}
BENCHMARK(BM_TrainingStepKernels)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  const char* env = std::getenv("TESSERA_KERNEL_THREADS");
  tessera::set_kernel_threads(env != nullptr ? std::atoi(env) : 2);
  benchmark::AddCustomContext("kernel_threads", std::to_string(tessera::kernel_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

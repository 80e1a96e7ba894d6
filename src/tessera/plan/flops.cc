#include "tessera/plan/flops.h"

namespace tessera::plan {

ForwardFlops forward_flops(const ModelSpec& model, int64_t t, bool causal) {
  const double C = static_cast<double>(model.n_embd);
  const double KV = static_cast<double>(model.kv_heads() * model.head_size());
  const double F = static_cast<double>(model.ffn());
  const double T = static_cast<double>(t);
  ForwardFlops f;
  const double Q = static_cast<double>(model.q_dim());  // NH·HS (= C unless head_dim is set)
  f.layer_gemm = 2.0 * T * (2.0 * C * Q + 2.0 * C * KV + (model.gated_mlp ? 3.0 : 2.0) * C * F);
  f.layer_attention = (causal ? 2.0 : 4.0) * T * T * Q;
  f.head = 2.0 * T * static_cast<double>(model.vocab_size) * C;
  return f;
}

const char* flop_convention_name(FlopConvention c) {
  switch (c) {
    case FlopConvention::kModelCausal: return "model-causal";
    case FlopConvention::kModelFull: return "model-full-attention";
    case FlopConvention::kHardware: return "hardware-with-recompute";
  }
  return "?";
}

namespace {
// Forward + backward (3×) plus recomputed forward work, for one sequence.
double with_recompute(const ModelSpec& model, const ForwardFlops& f, Recompute recompute) {
  const double L = static_cast<double>(model.n_layer);
  double total = 3.0 * (L * (f.layer_gemm + f.layer_attention) + f.head);
  if (recompute == Recompute::kFull) total += L * (f.layer_gemm + f.layer_attention);
  if (recompute == Recompute::kSelective) total += L * f.layer_attention;
  return total;
}
}  // namespace

double step_flops(const ModelSpec& model, int64_t t, int64_t sequences, FlopConvention convention,
                  Recompute recompute) {
  const double n = static_cast<double>(sequences);
  switch (convention) {
    case FlopConvention::kModelCausal:
      return n * with_recompute(model, forward_flops(model, t, true), Recompute::kNone);
    case FlopConvention::kModelFull:
      return n * with_recompute(model, forward_flops(model, t, false), Recompute::kNone);
    case FlopConvention::kHardware:
      return n * with_recompute(model, forward_flops(model, t, false), recompute);
  }
  return 0;
}

double executed_flops_per_sequence(const ModelSpec& model, int64_t t, Recompute recompute, bool causal_kernel) {
  return with_recompute(model, forward_flops(model, t, causal_kernel), recompute);
}

}  // namespace tessera::plan

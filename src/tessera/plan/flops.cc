#include "tessera/plan/flops.h"

#include "tessera/plan/layer_mix.h"

namespace tessera::plan {

ForwardFlops forward_flops(const ModelSpec& model, int64_t t, bool causal) {
  // Totals over the layer kinds (layer_mix.h), reported per layer (÷ n_layer) so that L·(g + a) is the whole
  // stack; for a plain GPT/Llama shape these are the single layer's g and a.
  const LayerMix mix = layer_mix(model);
  const double C = static_cast<double>(model.n_embd);
  const double T = static_cast<double>(t);
  const double L = static_cast<double>(model.n_layer);
  const double weights = mix.attention * attention_matmul_params(model) + mix.mamba * mamba_matmul_params(model) +
                         mix.dense_ffn * dense_ffn_params(model) + mix.moe_ffn * moe_active_params(model) +
                         mix.mtp * 2 * C * C;
  const double core = (mix.attention - mix.window) * attention_core_flops_per_token(model, t, causal, false) +
                      mix.window * attention_core_flops_per_token(model, t, causal, true) +
                      mix.mamba * mamba_scan_flops_per_token(model);
  ForwardFlops f;
  f.layer_gemm = 2.0 * T * weights / L;
  f.layer_attention = T * core / L;
  // The LM head, once more per MTP module (it shares the head's weights).
  f.head = 2.0 * T * static_cast<double>(model.vocab_size) * C * (1 + mix.mtp);
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
    case FlopConvention::kModelCausal: {
      ModelSpec counted = model;
      counted.window_layers = 0;
      if (!model.gated_silu) counted.gated_mlp = false;
      return n * with_recompute(counted, forward_flops(counted, t, true), Recompute::kNone);
    }
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

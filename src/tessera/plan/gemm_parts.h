// GemmParts: the parts of a model whose GEMMs run in another number format than the job's (Job::gemm_format).
//
// Two mechanisms of Megatron-Core / Transformer Engine, as recipes state them:
//   - whole layers at the start and end of the stack in bf16: TransformerConfig.first_last_layers_bf16 with
//     num_layers_at_start_in_bf16 / num_layers_at_end_in_bf16 (megatron/core/fp8_utils.py get_fp8_context and
//     fp4_utils.py get_fp4_context give those layer numbers no quantization context; a hybrid stack counts every
//     layer of its pattern, Mamba, attention and MoE alike);
//   - named GEMMs in another format in every other layer: TransformerConfig.quant_recipe, Transformer Engine
//     quantization parameters matched by module name (Megatron-Bridge's Nemotron 3 Super NVFP4 recipe, te_quant.cfg:
//     attention's linear_qkv and linear_proj, the LatentMoE fc1/fc2_latent_proj and every "mtp.*" module in bf16,
//     Mamba's mixer.out_proj in MXFP8).
// A GEMM outside both runs in the job's format. The step model charges each GEMM at its format's dense peak × that
// format's efficiency constant (AcceleratorSpec::efficiency); the memory model keeps a 1-byte quantized copy of a
// GEMM's saved input only where that GEMM is fp8/fp4.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/core/status.h"
#include "tessera/spec/cluster_spec.h"
#include "tessera/spec/model_spec.h"

namespace tessera::plan {

// The GEMM kinds a recipe can name, in every layer outside the bf16 ones.
enum class GemmPart {
  kAttention,     // the attention mixers' projections (q/k/v and output; MLA's down and up projections)
  kMambaInProj,   // Mamba-2's in_proj
  kMambaOutProj,  // Mamba-2's out_proj
  kMoeLatent,     // LatentMoE's two C×ℓ projections around the experts
  kMtp,           // the multi-token-prediction modules whole: their projection, attention and MLP
  kLmHead,        // the output layer (the LM head, and its passes for MTP)
};
inline constexpr int kGemmPartCount = 6;
const char* gemm_part_name(GemmPart part);

struct GemmParts {
  int64_t bf16_first_layers = 0;  // the stack's first layers, all their GEMMs in bf16
  int64_t bf16_last_layers = 0;   // the stack's last layers (not the MTP modules), all their GEMMs in bf16
  // A part's format in every other layer; unset = the job's.
  std::array<std::optional<GemmFormat>, kGemmPartCount> format{};

  bool empty() const;
  std::optional<GemmFormat> of(GemmPart part) const { return format[static_cast<size_t>(part)]; }
};

// The `--gemm-parts` syntax: comma-separated items "first=N", "last=N" and "PART=FORMAT", PART one of attention,
// mamba_in_proj, mamba_out_proj, moe_latent, mtp, lm_head and FORMAT one of bf16, fp8, fp4; e.g. Nemotron 3 Super's
// NVFP4 recipe: "last=14,attention=bf16,moe_latent=bf16,mtp=bf16,mamba_out_proj=fp8". Errors ("expected ..., found
// 'ITEM'") name the item; callers prefix the flag or column.
StatusOr<GemmParts> parse_gemm_parts(std::string_view text);
// The same syntax back (parse_gemm_parts(gemm_parts_string(p)) == p); "" for empty parts.
std::string gemm_parts_string(const GemmParts& parts);
// The layer counts fit the model: bf16_first_layers + bf16_last_layers ≤ n_layer.
Status validate_gemm_parts(const GemmParts& parts, const ModelSpec& m);

// The GEMMs of the stack by kind, as the step and memory models charge them (layer_mix.h counts their layers; the
// MTP modules' attention and MLP are counted with the stack's).
enum class LayerGemm {
  kAttention, kMambaInProj, kMambaOutProj, kDenseMlp, kExperts, kSharedExperts, kMoeLatent, kRouter, kMtpProjection,
};
// How the instances of one kind of GEMM divide between formats: up to three shares (fractions of the kind's
// instances summing to 1): those in the bf16 layers, those of the MTP modules (at the mtp part's format where set)
// and the rest (at the kind's part format where set, else the job's). Unused shares have fraction 0.
struct FormatShare {
  double fraction = 0;
  GemmFormat format = GemmFormat::kBf16;
};
using GemmSplit = std::array<FormatShare, 3>;
GemmSplit gemm_split(const ModelSpec& m, const GemmParts& parts, GemmFormat job_format, LayerGemm gemm);
// The LM head's format (it is in no layer): the lm_head part's, else the job's.
GemmFormat lm_head_format(const GemmParts& parts, GemmFormat job_format);
// The fraction of a kind's instances whose GEMMs are fp8 or fp4 (their saved inputs are quantized copies).
double quantized_fraction(const GemmSplit& split);

}  // namespace tessera::plan

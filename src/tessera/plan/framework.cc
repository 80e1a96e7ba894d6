#include "tessera/plan/framework.h"

namespace tessera::plan {

StatusOr<Framework> parse_framework(const std::string& name) {
  if (name == "generic") return Framework::kGeneric;
  if (name == "megatron") return Framework::kMegatron;
  if (name == "nemo") return Framework::kNemo;
  if (name == "torchtitan") return Framework::kTorchtitan;
  return invalid_argument_error("--framework: expected generic | megatron | nemo | torchtitan, found '{}'", name);
}

const char* framework_name(Framework f) {
  switch (f) {
    case Framework::kGeneric: return "generic";
    case Framework::kMegatron: return "megatron";
    case Framework::kNemo: return "nemo";
    case Framework::kTorchtitan: return "torchtitan";
  }
  return "generic";
}

void apply_framework(Framework framework, Job* job) {
  job->framework = framework;
  MemoryTraits& t = job->memory;
  const int64_t offload = t.offload_layers;
  t = MemoryTraits{};
  t.offload_layers = offload;
  // Megatron's GPT models (GELU MLP) train with dropout 0.1 by default; its Llama recipes, like every other
  // framework's runs here, with none.
  const bool megatron_gpt = (framework == Framework::kMegatron || framework == Framework::kNemo) && !job->model.gated_mlp;
  t.dropout = megatron_gpt;
  // Transformer Engine (Megatron, NeMo) saves fp8/fp4 GEMM inputs quantized, 1 byte per element (MemoryTraits).
  t.fp8_saved_gemm_inputs = (framework == Framework::kMegatron || framework == Framework::kNemo) &&
                            (job->gemm_format == GemmFormat::kFp8 || job->gemm_format == GemmFormat::kFp4);
  switch (framework) {
    case Framework::kGeneric:
      // PyTorch's F.cross_entropy on logits.float(): fp32 upcast + fp32 log-softmax saved for backward.
      t.loss_bytes_per_logit = 10;
      break;
    case Framework::kMegatron:
      // Fused vocab-parallel cross-entropy works in one fp32 copy of the logits; main gradients are fp32.
      t.loss_bytes_per_logit = 6;
      break;
    case Framework::kNemo:
      // Performance recipes: grad_reduce_in_fp32 = false (bf16 gradient buffer); the fp8 recipes
      // (tensorwise, MXFP8) set fp8_param_gather = true (fp8 weights), the NVFP4 recipe does not.
      t.loss_bytes_per_logit = 6;
      t.gradient_bytes = 2;
      t.fp8_weights = job->gemm_format == GemmFormat::kFp8;
      break;
    case Framework::kTorchtitan:
      t.loss_bytes_per_logit = 10;
      t.selective = SelectivePolicy::kEveryOtherMatmul;
      t.saves_gathered_sp_inputs = true;
      // torchtitan does not reshard FSDP weights after forward under a pipeline (one all-gather per step
      // instead of per micro-batch), and the pipeline schedule syncs gradients on the last micro-batch
      // only, so gradients accumulate unsharded.
      job->reshard_per_micro_batch = !(job->plan.pp > 1 && job->plan.zero_stage >= 3);
      t.unsharded_gradient_accumulation = !job->reshard_per_micro_batch;
      break;
  }
}

}  // namespace tessera::plan

// Job: what the planner predicts — a model, its layout and batching (ParallelPlan), the number format of the
// GEMMs and a few framework traits that change the physics (flash attention, sequence parallelism,
// FSDP resharding). Shared by the step model, memory model, search, validation and calibration.
#pragma once

#include "tessera/plan/gemm_parts.h"
#include "tessera/spec/cluster_spec.h"
#include "tessera/spec/grid_order.h"
#include "tessera/spec/model_spec.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera::plan {

// What a selective-recompute policy keeps for backward.
enum class SelectivePolicy {
  // Megatron (Korthikanti et al. 2022): everything but the attention core's t×t internals (nothing extra
  // to drop with flash attention), so it costs only the attention core's recompute.
  kAttentionCore,
  // torchtitan's per-op policy: keep the layer input, the attention output and the output of every other
  // matmul (q, v, gate/fc1, down/fc2); recompute the rest (k, o, up/fc2 projections, norms, activations).
  kEveryOtherMatmul,
};

// How a training framework holds state and activations. These change memory (and offload/recompute time),
// not the model's FLOPs. `apply_framework` (framework.h) sets the documented defaults of the frameworks
// the planner knows; `tessera plan --framework` and `plan validate` (by the row's source) pick one.
struct MemoryTraits {
  // Bytes per parameter of the gradient buffer: 4 = fp32 accumulation (PyTorch DDP/FSDP, DeepSpeed and
  // Megatron's default), 2 = bf16 (Megatron-Bridge/NeMo performance recipes set grad_reduce_in_fp32 = false).
  double gradient_bytes = 4;
  // fp8 GEMMs keep the model's copy of the weights in fp8, 1 byte (Megatron's fp8_param_gather); the fp32
  // master copy stays with the optimizer. NVFP4 recipes keep bf16 weights.
  bool fp8_weights = false;
  // Dropout masks (1 byte per element, two per layer) are stored: Megatron's GPT defaults (hidden and
  // attention dropout 0.1). Llama, MPT and PaLM train without dropout.
  bool dropout = false;
  // Bytes per logit alive at the loss's peak on the last stage: 6 = bf16 logits + one fp32 working copy
  // (Megatron's fused vocab-parallel cross-entropy); 10 = bf16 logits + the fp32 upcast + the fp32
  // log-softmax kept for backward (PyTorch's F.cross_entropy on logits.float(), as torchtitan calls it).
  double loss_bytes_per_logit = 6;
  SelectivePolicy selective = SelectivePolicy::kAttentionCore;
  // Megatron-Core's --recompute-modules layernorm / moe_act: the norm outputs (the next matmul's input, 2·C bytes
  // per token per norm) and the expert activation's output (2·F_e bytes per routed copy) are rebuilt in backward
  // instead of kept. Memory only: the recomputed work is memory-bound and small next to the layer's GEMMs.
  bool recompute_norm = false;
  bool recompute_moe_act = false;
  // Megatron-Core's "mla_up_proj" recompute module: MLA's q and kv up-projection outputs (flash attention's q, k, v)
  // are dropped after the attention forward and rebuilt from the kept latents before its backward
  // (CheckpointWithoutOutput): their bytes are not kept, and the backward re-runs the two up-projection GEMMs.
  bool recompute_mla_up_proj = false;
  // Megatron-Core's "moe" recompute module: the whole MoE layer's forward — shared experts, router, permutation,
  // dispatch all-to-all, expert GEMMs, combine all-to-all, unpermute — runs inside one checkpoint
  // (megatron/core/transformer/moe/moe_layer.py: MoELayer.forward wraps custom_forward in tensor_parallel.checkpoint,
  // te_checkpoint with fp8/fp4), so the layer keeps only its input (the pre-MLP norm output, 2·C bytes per token)
  // and the backward re-runs all of it first: the GEMMs, the host wait and both all-to-alls once more.
  bool recompute_moe = false;
  // With fp8/fp4 GEMMs, Transformer Engine's Linear, LayerNormLinear and GroupedLinear save the quantized copy of
  // their input for the weight-gradient GEMM, 1 byte per element (plus a scale per block), instead of bf16
  // (transformer_engine/pytorch/module/linear.py: the quantized input keeps only its column-wise data, "not needed in
  // backward pass" for the row-wise): the QKV and MLP inputs (norm outputs), the fc2 input (activation output) and each
  // routed copy's expert input. The attention output stays bf16 for flash attention's backward and the o projection
  // adds its fp8 copy. Megatron and NeMo/Megatron-Bridge (TE); torchtitan's float8 keeps high-precision inputs.
  bool fp8_saved_gemm_inputs = false;
  // With sequence parallelism, the column-parallel matmuls (QKV, MLP up/gate) keep their all-gathered,
  // full-sequence input for backward (PyTorch DTensor's ColwiseParallel: autograd saves the matmul's input),
  // instead of the tp-sharded input that Megatron keeps and re-gathers in backward.
  bool saves_gathered_sp_inputs = false;
  // FSDP with weights kept gathered through the step (reshard_per_micro_batch = false) under a pipeline:
  // gradients also stay unsharded (fp32) until the last micro-batch, because PyTorch's pipeline schedules
  // turn gradient sync off for all but the last one.
  bool unsharded_gradient_accumulation = false;
  // Saved activations of this many layers per pipeline stage (per virtual stage, the first ones) go to host
  // memory during forward and come back for backward (Megatron's cpu_offloading_num_layers). Free in memory
  // terms, paid in time where the host link cannot keep up with the layers' compute.
  int64_t offload_layers = 0;
};

// The training frameworks whose memory behaviour the planner knows (framework.h sets their traits).
enum class Framework {
  kGeneric,     // PyTorch DDP/FSDP, DeepSpeed, llm-foundry: fp32 gradients, unfused loss
  kMegatron,    // Megatron-LM defaults: fp32 main gradients, fused vocab-parallel loss
  kNemo,        // NeMo / Megatron-Bridge performance recipes: bf16 gradients, fp8 weights with fp8 GEMMs
  kTorchtitan,  // torchtitan: per-op selective recompute, no FSDP resharding under a pipeline
};

// How context parallelism exchanges the sequence: kRing passes K,V chunks around the cp ranks point to point
// ((cp−1) sends per layer, hidden behind the attention of the chunk in hand: Megatron, torchtitan's ring);
// kAllToAll is DeepSpeed-Ulysses: an all-to-all turns sequence shards into head shards for Q, K, V before the
// attention and back for its output, on the critical path (no overlap), and needs the heads divisible by cp.
enum class ContextParallel { kRing, kAllToAll };

// How expert-parallel tokens travel and are sorted (moe_dispatch.h): kAllToAll sends every routed copy as its own
// message (Megatron's "alltoall" dispatcher) and permutes them in separate passes; kDeduplicated sends a token once
// per destination rank and once per remote scale-up domain, forwarding it over NVLink inside (Megatron's "flex"
// dispatcher with DeepEP), permuting locally; kHybridEp deduplicates the same way with the permutation fused into
// the dispatch and combine kernels (the flex dispatcher with HybridEP).
enum class ExpertDispatch { kAllToAll, kDeduplicated, kHybridEp };

// The fitted defaults of Job::moe_host_overhead_s and Job::moe_host_per_expert_s (docs/planner.md "Constants").
inline constexpr double kMoeHostOverheadS = 0.001725;    // s per MoE layer per micro-batch, fitted
inline constexpr double kMoeHostPerExpertS = 0.0002935;  // s per local expert, MoE layer and micro-batch, fitted

struct Job {
  ModelSpec model;
  ParallelPlan plan;
  GemmFormat gemm_format = GemmFormat::kBf16;  // fp8/fp4: GEMMs only; attention and the rest stay bf16
  // The parts whose GEMMs run in another format than gemm_format (gemm_parts.h): whole layers at the start and end
  // of the stack in bf16, named GEMMs (attention, latent projections, MTP, ...) in a recipe's format. Empty: all
  // GEMMs in gemm_format.
  GemmParts gemm_parts;
  bool flash_attention = true;     // fused attention: causal blocks skipped, no t×t scores stored
  bool sequence_parallel = true;   // with tp > 1: LayerNorm/dropout activations split over tp
  ContextParallel cp_mode = ContextParallel::kRing;
  // ZeRO-3/FSDP: true = parameters gathered for every micro-batch (FULL_SHARD), false = kept gathered over
  // the accumulation steps (Llama 3's "not resharded after forward", ZeRO-2-like traffic).
  bool reshard_per_micro_batch = true;
  // Fraction of compute that data-parallel collectives can hide behind (bucketed, started as gradients are
  // ready). 0 where communication competes with compute for the same cores (CPU ranks sharing a machine).
  double dp_overlap = 0.9;
  // Tessera's own runtime (plan calibrate): pipeline stages as spec/pipeline_stages.h splits them (interleaved:
  // pp·vpp even virtual stages), the LM head on the last stage, the step simulated stage by stage; its
  // tensor-parallel collectives are blocking (parallel/tensor_parallel.h: all exposed) and include the
  // vocab-parallel embedding's and head's (docs/parallelism.md). false: frameworks' balanced stages (head
  // spread), kTpExposed of the blocks' tp collectives exposed.
  bool runtime_stages = false;
  Framework framework = Framework::kGeneric;
  MemoryTraits memory;  // as apply_framework(framework) sets them, plus offload_layers
  // Mixture of experts (ignored for dense models). The expert layers lay the same tp·cp·dp ranks of a stage
  // out as etp (expert tensor parallel, fastest) × ep (expert parallel) × edp (expert data parallel), as
  // Megatron-Core does: ep·etp must divide tp·cp·dp and ep the experts.
  int64_t ep = 1;
  int64_t etp = 1;
  // Tokens of the busiest expert over the mean (1 = balanced; Megatron-Bridge's benchmarks force balance).
  double expert_imbalance = 1.0;
  // Capacity factor: an expert takes at most this multiple of the mean tokens and drops the rest
  // (token-drop); 0 = dropless (every routed token is processed, the busiest expert sets the pace).
  double capacity_factor = 0;
  // Megatron's moe_pad_expert_input_to_capacity (needs a capacity factor; Megatron-Bridge's apply_moe_token_drop,
  // src/megatron/bridge/training/utils/moe_token_drop.py, sets it with capacity factor 1 for every token-drop
  // recipe): every expert receives exactly its capacity, cf × the mean routed copies, padded, so every expert
  // computes and every rank sends the padded capacity whatever the routing. The host wait below is still paid:
  // padding removes the device-to-host copy of the token counts (megatron/core/transformer/moe/
  // token_dispatcher.py, MoEAlltoAllTokenDispatcher.preprocess: the drop_and_pad branch leaves cuda_sync_point at
  // "no_sync"), but the padded Bridge rows imply the same per-layer wait as the dropless ones (docs/planner.md).
  bool pad_to_capacity = false;
  // Share of the expert-parallel all-to-all time on the critical path (1 = fully exposed, as Megatron runs it
  // without overlap; ep_overlap below models its 1F1B overlap with another micro-batch's compute).
  double ep_exposed = 1.0;
  ExpertDispatch ep_dispatch = ExpertDispatch::kAllToAll;
  // Megatron's overlap_moe_expert_parallel_comm: in the 1F1B steady state one micro-batch's forward and another's
  // backward run as one unit, each all-to-all under the other's compute; per MoE layer only what exceeds the
  // layer's forward + backward compute stays exposed (step_model.cc).
  bool ep_overlap = false;
  // Group-limited routing (DeepSeek-V3: 8 expert groups, a token's experts from its top 4 groups): bounds the
  // scale-up domains a token reaches (moe_dispatch.h). 0 = unlimited. From the catalog model
  // (router_groups, router_group_topk).
  int64_t router_groups = 0;
  int64_t router_group_topk = 0;
  // Host-side time per MoE layer per micro-batch, forward + backward, that the GPU waits for: dropless
  // routing copies the tokens-per-expert counts to the host (a device sync) before the grouped GEMMs and the
  // all-to-all can be sized and launched, so the CPU's launch work for the layer cannot run ahead of the
  // GPU. The fixed part of the wait; fitted with moe_host_per_expert_s below on the fit-half MoE rows (`plan
  // validate --fit`, keys kMoeHostOverheadKey and kMoeHostPerExpertKey in validate.h). Rows padded to capacity
  // (no sync) imply a wait of the same size, so it is charged to every MoE layer.
  double moe_host_overhead_s = kMoeHostOverheadS;
  // The host's share that grows with the rank's E/ep local experts, per expert, MoE layer and micro-batch: a
  // grouped GEMM is launched from the host one expert at a time (Transformer Engine's GroupedLinear runs
  // multi_stream_cublas_gemm, transformer_engine/common/gemm/cublaslt_gemm.cu: a loop issuing one cuBLAS GEMM per
  // expert over 4 streams), fc1 and fc2 forward and their dgrad and wgrad backward, with the per-expert quantize
  // and split/concat around them; the layer waits on that loop where the sync keeps the CPU from running ahead.
  // Fitted with moe_host_overhead_s (l1_fit.h).
  double moe_host_per_expert_s = kMoeHostPerExpertS;
  // The MoE layers are captured in CUDA graphs (Megatron-Core's enable_cuda_graph, or a cuda_graph_scope that covers
  // the experts): the host replays one graph per layer instead of looping over the rank's experts, so the per-expert
  // part of the host wait (moe_host_per_expert_s) is not paid; the fixed part stays. Capture needs static shapes, so
  // only experts padded to capacity can be captured (Megatron-LM megatron/core/transformer/moe/README.md, "CUDA
  // Graph": without moe_expert_capacity_factor and moe_pad_expert_input_to_capacity "the resulting dynamic shapes
  // make MoE layers uncapturable"); validate_job refuses it otherwise.
  bool moe_cuda_graph = false;
  // The whole forward-backward iteration is one CUDA graph (Megatron-Core cuda_graph_impl = "full_iteration"): the
  // host launches the step once, so no part of the MoE host wait (moe_host_overhead_s, moe_host_per_expert_s) is
  // paid. Dropless MoE can be captured this way because the recipes give every expert-parallel rank a static token
  // budget (moe_expert_rank_capacity_factor = 1.5: HybridEP sizes its buffers without a host sync) and stash the
  // variable-size activations in paged buffers (moe_paged_stash); the grouped GEMMs read the per-expert counts on
  // the device. Megatron-Bridge's MXFP8 MoE recipes from the 26.06 container on (scripts/performance/configs/*/
  // *_llm_pretrain.py set_full_iter_cg_configs at v0.5.0; src/megatron/bridge/perf_recipes/qwen/common.py
  // _enable_hybridep_full_iteration_mxfp8 at v0.6.0). The work is the routed tokens', not the budget's.
  bool full_iteration_graph = false;

  // Ranks of an expert-data-parallel group (each holds the same experts).
  int64_t expert_dp() const { return plan.tp * plan.cp * plan.dp / (ep * etp); }
  // The rank grid in the runtime's order (spec/grid_order.h).
  GridDims grid() const { return GridDims{.dp = plan.dp, .pp = plan.pp, .tp = plan.tp, .cp = plan.cp}; }

  int64_t seq_len() const { return model.seq_len; }
};

// The GEMM format a runtime precision implies.
inline GemmFormat gemm_format_for(Precision p) {
  switch (p) {
    case Precision::kFp32: return GemmFormat::kFp32;
    case Precision::kBf16: return GemmFormat::kBf16;
    case Precision::kFp8: return GemmFormat::kFp8;
  }
  return GemmFormat::kBf16;
}

}  // namespace tessera::plan

// Flash-attention kernel throughput per accelerator generation, head size and sequence length, from published
// kernel benchmarks (docs/planner.md "Flash attention per generation"; the figures and their sources are in
// attention_kernel.cc). The step model times the attention core of a flash-attention run with it instead of
// the generation's GEMM efficiency.
//
// Units: a fraction of the accelerator's dense bf16 peak, for forward + backward together, counted as the
// flash-attention benchmarks count them: forward 4·t²·d·heads FLOPs (half of it causal), backward 2.5× the
// forward — the same 3.5× the step model charges (forward, then a 2.5× backward).
#pragma once

#include <string_view>

namespace tessera::plan {

// Which kernel family runs the attention core: the frameworks pick it.
enum class AttentionKernel {
  kFlash2,  // FlashAttention-2: PyTorch SDPA's flash backend (torchtitan, FSDP/DDP runs), flash-attn v2 (llm-foundry)
  kFused,   // cuDNN fused attention through Transformer Engine (Megatron-LM, NeMo, Megatron-Bridge)
};

// The fraction of the dense bf16 peak (forward + backward) that `kernel` reaches on `generation` (the catalog's
// AcceleratorSpec::generation) for one kernel call over `seq` keys with head size `head_dim`, causal or full.
// Interpolated linearly in log2(seq) between the benchmarked lengths 512…16k and held flat outside them; head
// sizes above 128 take the 128 figure, smaller ones scale by s(d)/s(128), s(d) = d/(d+32). Returns 0 when the
// generation has no published figures (the caller keeps its own law).
double flash_attention_fraction(std::string_view generation, AttentionKernel kernel, double seq, double head_dim,
                                bool causal);

}  // namespace tessera::plan

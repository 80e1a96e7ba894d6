// Megatron-Core's selective recompute by module (`--recompute-granularity selective --recompute-modules ...`,
// TransformerConfig.recompute_modules), as the planner models it. Shared by `tessera plan --recompute-modules` and
// `plan validate` (a row's "selective (recompute modules: ...)").
#pragma once

#include <string>

#include "tessera/core/status.h"
#include "tessera/plan/job.h"

namespace tessera::plan {

// The modules the planner models, in the words Megatron-Core and the published rows use.
inline constexpr const char* kRecomputeModulesKnown = "norm, layernorm, act, moe_act, core_attn, mla_up_proj, moe";

// Reads a list of modules separated by commas, spaces or parentheses and sets the job's recompute to match:
//   norm | layernorm  MemoryTraits::recompute_norm      act | moe_act  MemoryTraits::recompute_moe_act
//   mla_up_proj       MemoryTraits::recompute_mla_up_proj
//   moe               MemoryTraits::recompute_moe (the whole MoE layer re-run in the backward)
//   core_attn         the attention core: the plan's selective recompute; without it the plan recomputes nothing
//                     else (Recompute::kNone), since every other listed module is modelled by its trait.
// Flags of modules not listed are left as they are (a framework's recipe may have set them). An empty list or one
// with a module outside these fails naming the unknown ones: "module(s) X not modelled (expected ...)".
Status apply_recompute_modules(const std::string& list, Job* job);

// The module traits a job has set, in Megatron-Core's names ("layernorm,moe_act,mla_up_proj,moe"); "" if none.
std::string recompute_modules_name(const MemoryTraits& traits);

}  // namespace tessera::plan

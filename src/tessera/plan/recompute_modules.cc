#include "tessera/plan/recompute_modules.h"

#include <sstream>
#include <vector>

namespace tessera::plan {

Status apply_recompute_modules(const std::string& list, Job* job) {
  std::string words = list;
  for (char& c : words) {
    if (c == ',' || c == '(' || c == ')') c = ' ';
  }
  std::istringstream in(words);
  std::vector<std::string> modules;
  std::string unknown;
  for (std::string w; in >> w;) {
    const bool known = w == "norm" || w == "layernorm" || w == "act" || w == "moe_act" || w == "core_attn" ||
                       w == "mla_up_proj" || w == "moe";
    if (!known) unknown += (unknown.empty() ? "" : ", ") + w;
    modules.push_back(w);
  }
  if (modules.empty()) return invalid_argument_error("no module listed (expected {})", kRecomputeModulesKnown);
  if (!unknown.empty()) {
    return invalid_argument_error("module(s) {} not modelled (expected {})", unknown, kRecomputeModulesKnown);
  }
  bool core_attn = false;
  for (const std::string& w : modules) {
    if (w == "norm" || w == "layernorm") job->memory.recompute_norm = true;
    if (w == "act" || w == "moe_act") job->memory.recompute_moe_act = true;
    if (w == "mla_up_proj") job->memory.recompute_mla_up_proj = true;
    if (w == "moe") job->memory.recompute_moe = true;
    if (w == "core_attn") core_attn = true;
  }
  job->plan.recompute = core_attn ? Recompute::kSelective : Recompute::kNone;
  return Status();
}

std::string recompute_modules_name(const MemoryTraits& traits) {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (on) out += (out.empty() ? "" : ",") + std::string(name);
  };
  add(traits.recompute_norm, "layernorm");
  add(traits.recompute_moe_act, "moe_act");
  add(traits.recompute_mla_up_proj, "mla_up_proj");
  add(traits.recompute_moe, "moe");
  return out;
}

}  // namespace tessera::plan

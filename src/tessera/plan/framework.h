// The training frameworks whose memory behaviour the planner knows, and the traits each implies for a job
// (MemoryTraits in job.h, plus FSDP resharding). Each setting is the framework's documented default for
// the kind of run in question, with where it comes from next to it in framework.cc.
#pragma once

#include <string>

#include "tessera/core/status.h"
#include "tessera/plan/job.h"

namespace tessera::plan {

// "generic" | "megatron" | "nemo" | "torchtitan"; anything else is an error naming the choices.
StatusOr<Framework> parse_framework(const std::string& name);
const char* framework_name(Framework f);

// Sets job->framework and job->memory (and, for torchtitan, FSDP resharding) to the framework's defaults
// for this model, layout and GEMM format. Leaves offload_layers as it was (a per-run choice).
void apply_framework(Framework framework, Job* job);

}  // namespace tessera::plan

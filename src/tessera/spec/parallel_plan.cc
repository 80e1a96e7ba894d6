#include "tessera/spec/parallel_plan.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "tessera/spec/config_reader.h"
#include "tessera/spec/model_spec.h"

namespace tessera {

const char* pipeline_schedule_name(PipelineSchedule s) {
  switch (s) {
    case PipelineSchedule::kGPipe: return "gpipe";
    case PipelineSchedule::kOneFOneB: return "1f1b";
    case PipelineSchedule::kInterleaved: return "interleaved";
    case PipelineSchedule::kZeroBubbleH1: return "zb-h1";
  }
  return "?";
}
const char* recompute_name(Recompute r) {
  switch (r) {
    case Recompute::kNone: return "none";
    case Recompute::kSelective: return "selective";
    case Recompute::kFull: return "full";
  }
  return "?";
}
const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp8: return "fp8";
  }
  return "?";
}

bool parse_pipeline_schedule(const std::string& text, PipelineSchedule* out) {
  for (auto s : {PipelineSchedule::kGPipe, PipelineSchedule::kOneFOneB, PipelineSchedule::kInterleaved,
                 PipelineSchedule::kZeroBubbleH1}) {
    if (text == pipeline_schedule_name(s)) return *out = s, true;
  }
  return false;
}
bool parse_recompute(const std::string& text, Recompute* out) {
  for (auto r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
    if (text == recompute_name(r)) return *out = r, true;
  }
  return false;
}
bool parse_precision(const std::string& text, Precision* out) {
  for (auto p : {Precision::kFp32, Precision::kBf16, Precision::kFp8}) {
    if (text == precision_name(p)) return *out = p, true;
  }
  return false;
}

Status ParallelPlan::validate(const ModelSpec& model, int64_t world) const {
  const struct {
    const char* key;
    int64_t value;
  } positives[] = {{"parallel.dp", dp}, {"parallel.tp", tp}, {"parallel.pp", pp}, {"parallel.cp", cp},
                   {"parallel.vpp", vpp}, {"train.micro_batch", micro_batch}};
  for (const auto& field : positives) {
    if (field.value <= 0) return invalid_argument_error("{}: expected a positive integer, found {}", field.key, field.value);
  }
  if (zero_stage < 0 || zero_stage > 3) {
    return invalid_argument_error("parallel.zero_stage: expected 0, 1, 2 or 3, found {}", zero_stage);
  }
  if (world > 0 && world_size() != world) {
    const int64_t others = tp * pp * cp;
    const std::string hint = world % others == 0 ? fmt::format("set dp={}", world / others)
                                                 : fmt::format("tp*pp*cp={} must divide the world size", others);
    return invalid_argument_error("parallel: dp({})*tp({})*pp({})*cp({})={} != world_size({}); hint: {}", dp, tp, pp,
                                  cp, world_size(), world, hint);
  }
  if (model.n_head % tp != 0) {
    return invalid_argument_error("parallel.tp: expected a divisor of model.n_head ({}), found {}", model.n_head, tp);
  }
  if (model.ffn() % tp != 0) {
    return invalid_argument_error("parallel.tp: expected a divisor of the MLP width ({}), found {}", model.ffn(), tp);
  }
  // Uneven stages are allowed (spec/pipeline_stages.h) but every stage needs a layer; interleaving's
  // virtual stages must be equal (each rank's chunks take turns in a fixed rotation).
  if (pp * vpp > model.n_layer) {
    return invalid_argument_error("parallel: pp({})*vpp({})={} stages for model.n_layer ({}) layers; every stage needs "
                                  "at least one layer; hint: parallel.pp ≤ {}", pp, vpp, pp * vpp, model.n_layer,
                                  std::max<int64_t>(1, model.n_layer / vpp));
  }
  if (vpp > 1 && model.n_layer % (pp * vpp) != 0) {
    return invalid_argument_error("parallel: pp({})*vpp({})={} must divide model.n_layer ({}) under the interleaved "
                                  "schedule", pp, vpp, pp * vpp, model.n_layer);
  }
  if (model.seq_len % cp != 0) {
    return invalid_argument_error("parallel.cp: expected a divisor of model.seq_len ({}), found {}", model.seq_len, cp);
  }
  if (vpp > 1 && schedule != PipelineSchedule::kInterleaved) {
    return invalid_argument_error("parallel.vpp: {} needs parallel.schedule = \"interleaved\", found \"{}\"", vpp,
                                  pipeline_schedule_name(schedule));
  }
  if (global_batch < 0) {
    return invalid_argument_error("train.global_batch: expected >= 0 (0 = micro_batch*dp), found {}", global_batch);
  }
  const int64_t global = resolved_global_batch();
  if (global % (micro_batch * dp) != 0) {
    return invalid_argument_error(
        "train.global_batch: expected a multiple of micro_batch({})*dp({})={}, found {}", micro_batch, dp,
        micro_batch * dp, global);
  }
  return Status();
}

ParallelPlan read_parallel_plan(ConfigReader& reader) {
  ParallelPlan plan;
  plan.dp = reader.get_int("parallel.dp", plan.dp, "data-parallel replicas");
  plan.tp = reader.get_int("parallel.tp", plan.tp, "tensor-parallel ranks");
  plan.pp = reader.get_int("parallel.pp", plan.pp, "pipeline stages");
  plan.cp = reader.get_int("parallel.cp", plan.cp, "context-parallel ranks");
  plan.vpp = reader.get_int("parallel.vpp", plan.vpp, "virtual pipeline stages per rank (interleaved)");
  plan.zero_stage = reader.get_int("parallel.zero_stage", plan.zero_stage, "0 none, 1 optimizer, 2 +grads, 3 +params");
  plan.overlap_comm = reader.get_bool("parallel.overlap_comm", plan.overlap_comm,
                                      "reduce each unit's gradients while backward goes on (false: after backward)");
  plan.sequence_parallel = reader.get_bool("parallel.sequence_parallel", plan.sequence_parallel,
                                           "with tp > 1: split LayerNorm/residual work along the tokens");
  const std::string schedule =
      reader.get_string("parallel.schedule", pipeline_schedule_name(plan.schedule), "gpipe | 1f1b | interleaved | zb-h1");
  if (!parse_pipeline_schedule(schedule, &plan.schedule)) {
    reader.fail("parallel.schedule", "one of gpipe, 1f1b, interleaved, zb-h1", "\"" + schedule + "\"");
  }
  const std::string recompute =
      reader.get_string("parallel.recompute", recompute_name(plan.recompute), "none | selective | full");
  if (!parse_recompute(recompute, &plan.recompute)) {
    reader.fail("parallel.recompute", "one of none, selective, full", "\"" + recompute + "\"");
  }
  const std::string precision =
      reader.get_string("parallel.precision", precision_name(plan.precision), "fp32 | bf16");
  if (!parse_precision(precision, &plan.precision)) {
    reader.fail("parallel.precision", "one of fp32, bf16, fp8", "\"" + precision + "\"");
  }
  plan.comm_backend = reader.get_string("parallel.comm_backend", plan.comm_backend,
                                       "dp axis communication: auto (shm within a host, hier across) | mpi | shm | hier");
  if (std::find(std::begin(kCommBackendChoices), std::end(kCommBackendChoices), plan.comm_backend) ==
      std::end(kCommBackendChoices)) {
    reader.fail("parallel.comm_backend", "one of auto, mpi, shm, hier", "\"" + plan.comm_backend + "\"");
  }
  plan.comm_timeout_s = reader.get_double("parallel.comm_timeout_s", plan.comm_timeout_s,
                                          "seconds a collective waits for its peers before naming the missing ones");
  if (!(plan.comm_timeout_s > 0) || !std::isfinite(plan.comm_timeout_s)) {
    reader.fail("parallel.comm_timeout_s", "a positive number of seconds", fmt::format("{}", plan.comm_timeout_s));
  }
  plan.micro_batch = reader.get_int("train.micro_batch", 8, "B: sequences per micro-batch per replica");
  plan.global_batch = reader.get_int("train.global_batch", 0,
                                     "sequences per optimizer step; 0 = micro_batch*dp (no accumulation)");
  return plan;
}

}  // namespace tessera

// ParallelPlan: how a job is laid out over a dp×tp×pp(×cp) process grid, and how it batches, shards
// and recomputes. The runtime runs exactly the plan that `tessera plan` predicts.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/core/status.h"

namespace tessera {

class ConfigReader;
struct ModelSpec;

// kZeroBubbleH1: 1F1B with backward split into input and weight gradients (spec/pipeline_schedule.h).
enum class PipelineSchedule { kGPipe, kOneFOneB, kInterleaved, kZeroBubbleH1 };
// Activation recomputation in backward (GptModel, docs/training.md): kSelective recomputes the attention
// core (output and lse) and the GELU output, kFull whole blocks from their inputs.
enum class Recompute { kNone, kSelective, kFull };
enum class Precision { kFp32, kBf16, kFp8 };

const char* pipeline_schedule_name(PipelineSchedule s);
const char* recompute_name(Recompute r);
const char* precision_name(Precision p);
bool parse_pipeline_schedule(const std::string& text, PipelineSchedule* out);
bool parse_recompute(const std::string& text, Recompute* out);
bool parse_precision(const std::string& text, Precision* out);

struct ParallelPlan {
  int64_t dp = 1;            // data-parallel replicas
  int64_t tp = 1;            // tensor-parallel ranks (split heads and the MLP width)
  int64_t pp = 1;            // pipeline stages (split the layers)
  int64_t cp = 1;            // context-parallel ranks (split the sequence)
  int64_t vpp = 1;           // virtual stages per pipeline rank (interleaved schedule)
  int64_t micro_batch = 1;   // sequences per micro-batch per model replica
  int64_t global_batch = 0;  // sequences per optimizer step over all replicas; 0 = micro_batch*dp
  int64_t zero_stage = 0;    // 0: replicate, 1: shard optimizer state, 2: +gradients, 3: +parameters
  // Data parallelism reduces each unit's gradients as soon as backward has produced them (true), or all of
  // them after backward (false: no overlap; for measuring what overlap hides).
  bool overlap_comm = true;
  // With tp > 1: LayerNorm, residual and embedding work split along the tokens between the tensor-parallel
  // regions (all-gather / reduce-scatter instead of all-reduce; model/tensor_regions.h).
  bool sequence_parallel = false;
  PipelineSchedule schedule = PipelineSchedule::kOneFOneB;
  Recompute recompute = Recompute::kNone;
  Precision precision = Precision::kFp32;
  // The dp axis's communication backend (docs/communication.md): "auto" (shm when the dp group is on one
  // host, hier when it spans hosts with several ranks on each, else mpi), "mpi", "shm" or "hier". Kept as
  // text here (spec/ does not depend on comm/); tools/tessera.cc turns it into a CommBackend.
  std::string comm_backend = "auto";
  // Deadline of every blocking communication call, seconds: a peer that does not arrive within it becomes
  // an error naming the collective and the missing rank(s) (and the flight recorder is dumped), not a hang.
  double comm_timeout_s = 300;

  int64_t world_size() const { return dp * tp * pp * cp; }
  int64_t resolved_global_batch() const { return global_batch > 0 ? global_batch : micro_batch * dp; }
  // Micro-batches per replica per step (gradient accumulation steps): global / (micro · dp).
  int64_t num_micro_batches() const { return resolved_global_batch() / (micro_batch * dp); }

  // Checks the plan alone and against the model and the world size; messages name every factor:
  // "parallel: dp(4)*tp(2)*pp(2)*cp(1)=16 != world_size(8); hint: set dp=2".
  // world_size <= 0 skips the world-size check.
  Status validate(const ModelSpec& model, int64_t world_size) const;
};

// The values parallel.comm_backend accepts, for messages and docs.
inline constexpr const char* kCommBackendChoices[] = {"auto", "mpi", "shm", "hier"};

// Reads [parallel] (dp, tp, pp, cp, vpp, zero_stage, schedule, recompute, precision, comm_backend,
// comm_timeout_s) and the batch keys
// train.micro_batch and train.global_batch.
ParallelPlan read_parallel_plan(ConfigReader& reader);

}  // namespace tessera

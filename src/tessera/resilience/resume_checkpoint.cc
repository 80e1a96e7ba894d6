#include "tessera/resilience/resume_checkpoint.h"

#include "tessera/ckpt/checkpoint_format.h"
#include "tessera/ckpt/newest_good_checkpoint.h"
#include "tessera/core/log.h"

namespace tessera {

namespace {

// What rank 0 broadcasts: a step >= 0, or one of these.
constexpr int64_t kNoCheckpoint = -1;
constexpr int64_t kNoneGood = -2;  // checkpoints existed, none verifies
constexpr int64_t kFailed = -3;    // another error on rank 0 (e.g. a quarantine rename failed)

}  // namespace

StatusOr<std::optional<CheckpointReader>> open_resume_checkpoint(Communicator& world,
                                                                 const std::string& checkpoints_dir,
                                                                 IncidentLog* incidents) {
  int64_t step = kNoCheckpoint;
  std::optional<CheckpointReader> reader;
  Status rank0_error;
  if (world.rank() == 0) {
    std::vector<QuarantinedCheckpoint> quarantined;
    auto good = open_newest_good_checkpoint(checkpoints_dir, {}, &quarantined);
    for (const QuarantinedCheckpoint& q : quarantined) {
      if (incidents == nullptr) break;
      Status logged = incidents->append({.kind = "checkpoint_quarantined", .rank = 0, .step = q.step,
                                         .detail = q.to + ": " + q.error.message()});
      if (!logged.ok()) log_error("resume: {}", logged.message());  // the quarantine itself is done
    }
    if (good.ok()) {
      step = good->step();
      reader.emplace(std::move(good).value());
    } else if (good.status().code() == StatusCode::kNotFound && quarantined.empty()) {
      step = kNoCheckpoint;
    } else {
      step = good.status().code() == StatusCode::kNotFound ? kNoneGood : kFailed;
      rank0_error = good.status().code() == StatusCode::kNotFound
                        ? data_loss_error("resume: {}; the run will not start over from step 0 by itself",
                                          good.status().message())
                        : good.status().with_context("resume");
    }
  }
  TESSERA_RETURN_IF_ERROR(world.broadcast(&step, sizeof(step), 0).with_context("resume: checkpoint step broadcast"));
  if (world.rank() == 0) {
    if (!rank0_error.ok()) return rank0_error;
    return reader;
  }
  if (step == kNoCheckpoint) return std::optional<CheckpointReader>();
  if (step < 0) {
    return (step == kNoneGood ? data_loss_error("resume: rank 0 found no good checkpoint in '{}' (see its log)",
                                                checkpoints_dir)
                              : internal_error("resume: rank 0 could not choose a checkpoint in '{}' (see its log)",
                                               checkpoints_dir));
  }
  TESSERA_ASSIGN_OR_RETURN(CheckpointReader opened,
                           CheckpointReader::open(checkpoints_dir + "/" + step_dir_name(step)));
  return std::optional<CheckpointReader>(std::move(opened));
}

}  // namespace tessera

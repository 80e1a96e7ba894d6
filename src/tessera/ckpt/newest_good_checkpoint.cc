#include "tessera/ckpt/newest_good_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "tessera/ckpt/checkpoint_format.h"
#include "tessera/core/file.h"
#include "tessera/core/log.h"

namespace tessera {

namespace {

namespace fs = std::filesystem;

struct Candidate {
  int64_t step;
  fs::path path;
};

// Step directories (committed or not; never *.tmp), newest first.
std::vector<Candidate> step_directories(const std::string& checkpoints_dir) {
  std::vector<Candidate> candidates;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(checkpoints_dir, error)) {
    const auto step = parse_step_dir_name(entry.path().filename().string());
    if (step && entry.is_directory(error)) candidates.push_back(Candidate{*step, entry.path()});
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.step > b.step; });
  return candidates;
}

// Opens and fully verifies `dir`; on failure, *reason says which stage failed.
StatusOr<CheckpointReader> open_verified(const fs::path& dir, std::string* reason) {
  if (!path_exists((dir / kCommitFileName).string())) {
    *reason = "uncommitted";
    return data_loss_error("checkpoint '{}': not committed: no {} marker, but named like a committed checkpoint",
                           dir.string(), kCommitFileName);
  }
  auto reader = CheckpointReader::open(dir.string());
  if (!reader.ok()) {
    *reason = "unreadable";
    return reader.status();
  }
  Status verified = reader->verify_all();
  if (!verified.ok()) {
    *reason = "checksum";
    return verified;
  }
  return reader;
}

// quarantine/step_N.<reason>, or with ".2", ".3", … if that name is taken: never overwrites.
StatusOr<std::string> quarantine(const fs::path& dir, const std::string& checkpoints_dir, const std::string& reason) {
  const fs::path quarantine_dir = fs::path(checkpoints_dir) / kQuarantineDirName;
  TESSERA_RETURN_IF_ERROR(make_directories(quarantine_dir.string()));
  const std::string base = dir.filename().string() + "." + reason;
  for (int attempt = 1;; ++attempt) {
    const fs::path target = quarantine_dir / (attempt == 1 ? base : base + "." + std::to_string(attempt));
    std::error_code error;
    if (fs::exists(target, error)) continue;
    // rename(2) would replace an empty directory at `target`; the check above makes that a race with
    // another quarantining process only, and only one process (the run's writer) quarantines.
    fs::rename(dir, target, error);
    if (error) {
      return io_error("cannot quarantine '{}' to '{}': {}; hint: move it aside by hand before resuming",
                      dir.string(), target.string(), error.message());
    }
    TESSERA_RETURN_IF_ERROR(fsync_directory(quarantine_dir.string()));
    TESSERA_RETURN_IF_ERROR(fsync_directory(checkpoints_dir));
    return target.string();
  }
}

}  // namespace

StatusOr<CheckpointReader> open_newest_good_checkpoint(const std::string& checkpoints_dir,
                                                       const NewestGoodOptions& options,
                                                       std::vector<QuarantinedCheckpoint>* quarantined) {
  std::error_code error;
  if (!fs::is_directory(checkpoints_dir, error)) {
    return not_found_error("no checkpoint directory '{}'; hint: start without resuming", checkpoints_dir);
  }
  const std::vector<Candidate> candidates = step_directories(checkpoints_dir);
  size_t bad = 0;
  for (const Candidate& candidate : candidates) {
    std::string reason;
    auto reader = open_verified(candidate.path, &reason);
    if (reader.ok()) {
      if (bad > 0) {
        log_warning("checkpoints: using step {} ('{}'), the newest that verifies; {} newer one(s) set aside",
                    candidate.step, candidate.path.string(), bad);
      }
      return reader;
    }
    ++bad;
    QuarantinedCheckpoint record{candidate.step, candidate.path.string(), "", reason, reader.status()};
    if (options.quarantine) {
      TESSERA_ASSIGN_OR_RETURN(record.to, quarantine(candidate.path, checkpoints_dir, reason));
      log_warning("checkpoints: quarantined step {} to '{}': {}", candidate.step, record.to, reader.status().message());
    } else {
      log_warning("checkpoints: skipping bad step {}: {}", candidate.step, reader.status().message());
    }
    if (quarantined) quarantined->push_back(std::move(record));
  }
  if (bad == 0) {
    return not_found_error("no committed checkpoint in '{}'; hint: start without resuming", checkpoints_dir);
  }
  return not_found_error("no good checkpoint in '{}': all {} step directories failed verification and were {}; "
                         "hint: inspect them (`tessera ckpt inspect`), or start without resuming",
                         checkpoints_dir, bad,
                         options.quarantine ? "moved to '" + checkpoints_dir + "/" + std::string(kQuarantineDirName) + "'"
                                            : "skipped");
}

}  // namespace tessera

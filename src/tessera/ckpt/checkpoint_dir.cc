#include "tessera/ckpt/checkpoint_dir.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string_view>
#include <utility>

#include "tessera/ckpt/checkpoint_format.h"
#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/core/file.h"
#include "tessera/core/log.h"

namespace tessera {

namespace {

namespace fs = std::filesystem;

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool has_commit(const fs::path& dir) { return path_exists((dir / kCommitFileName).string()); }

// (step, path) of every committed step directory, ascending by step.
std::vector<std::pair<int64_t, std::string>> committed_steps(const std::string& checkpoints_dir) {
  std::vector<std::pair<int64_t, std::string>> steps;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(checkpoints_dir, error)) {
    const auto step = parse_step_dir_name(entry.path().filename().string());
    if (step && entry.is_directory(error) && has_commit(entry.path())) steps.emplace_back(*step, entry.path().string());
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

}  // namespace

std::vector<std::string> list_checkpoints(const std::string& checkpoints_dir) {
  std::vector<std::string> paths;
  for (auto& [step, path] : committed_steps(checkpoints_dir)) paths.push_back(std::move(path));
  return paths;
}

StatusOr<std::string> find_latest_checkpoint(const std::string& checkpoints_dir) {
  std::error_code error;
  if (!fs::is_directory(checkpoints_dir, error)) {
    return not_found_error("no checkpoint directory '{}'; hint: pass the run directory or its checkpoints/ "
                           "directory, or start without resuming",
                           checkpoints_dir);
  }
  for (const auto& entry : fs::directory_iterator(checkpoints_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (ends_with(name, kTmpDirSuffix)) {
      log_warning("checkpoints: ignoring '{}': an unfinished save or deletion", entry.path().string());
    } else if (name.rfind(kStepDirPrefix, 0) == 0 && !parse_step_dir_name(name)) {
      log_warning("checkpoints: ignoring '{}': not named step_<digits>", entry.path().string());
    } else if (parse_step_dir_name(name) && entry.is_directory(error) && !has_commit(entry.path())) {
      log_warning("checkpoints: ignoring '{}': no {} marker (not committed)", entry.path().string(), kCommitFileName);
    }
  }
  // An uncommitted directory is a save a crash interrupted: skipped above. A committed one that does not
  // open is corruption: never trusted, and never silently passed over either (a resumed run would then
  // overwrite it, and lose the history after the older checkpoint). The user decides.
  const auto steps = committed_steps(checkpoints_dir);
  if (steps.empty()) {
    return not_found_error("no committed checkpoint in '{}'; hint: start without resuming, or point at a run "
                           "that has saved one",
                           checkpoints_dir);
  }
  const std::string& newest = steps.back().second;
  auto reader = CheckpointReader::open(newest);
  if (!reader.ok()) {
    return data_loss_error("newest committed checkpoint is unreadable: {}; hint: move '{}' aside to use the one "
                           "before it",
                           reader.status().message(), newest);
  }
  return newest;
}

StatusOr<std::string> resolve_checkpoint_path(const std::string& path) {
  const fs::path dir(path);
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return not_found_error("'{}' is not a directory; hint: pass a step directory, a run directory or its "
                           "checkpoints/ directory",
                           path);
  }
  if (path_exists((dir / kCommitFileName).string()) || path_exists((dir / kManifestFileName).string())) {
    return path;
  }
  if (fs::is_directory(dir / "checkpoints", error)) return find_latest_checkpoint((dir / "checkpoints").string());
  return find_latest_checkpoint(path);
}

Status remove_old_checkpoints(const std::string& checkpoints_dir, int keep_last, int64_t keep_step) {
  if (keep_last <= 0) return Status();
  const auto steps = committed_steps(checkpoints_dir);
  size_t excess = steps.size() > static_cast<size_t>(keep_last) ? steps.size() - keep_last : 0;
  for (size_t i = 0; i < steps.size() && excess > 0; ++i) {
    if (steps[i].first == keep_step) continue;
    const std::string doomed = steps[i].second + ".deleting" + std::string(kTmpDirSuffix);
    std::error_code error;
    fs::rename(steps[i].second, doomed, error);
    if (error) return io_error("cannot uncommit old checkpoint '{}': {}", steps[i].second, error.message());
    fs::remove_all(doomed, error);
    if (error) return io_error("cannot remove old checkpoint '{}': {}", doomed, error.message());
    --excess;
  }
  return fsync_directory(checkpoints_dir);
}

namespace {

// The step of "step_M.tmp" or "step_M.deleting.tmp"; nullopt for any other name.
std::optional<int64_t> tmp_dir_step(std::string_view name) {
  if (!ends_with(name, kTmpDirSuffix)) return std::nullopt;
  name.remove_suffix(kTmpDirSuffix.size());
  constexpr std::string_view kDeleting = ".deleting";
  if (ends_with(name, kDeleting)) name.remove_suffix(kDeleting.size());
  return parse_step_dir_name(name);
}

Status remove_tmp_dirs(const std::string& checkpoints_dir, std::optional<int64_t> before_step) {
  std::error_code error;
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(checkpoints_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory(error) || !ends_with(name, kTmpDirSuffix)) continue;
    if (before_step) {
      const auto step = tmp_dir_step(name);
      if (!step || *step >= *before_step) continue;
    }
    stale.push_back(entry.path());
  }
  for (const fs::path& path : stale) {
    fs::remove_all(path, error);
    if (error) return io_error("cannot remove stale '{}': {}", path.string(), error.message());
  }
  return Status();
}

}  // namespace

Status remove_stale_tmp_dirs(const std::string& checkpoints_dir) {
  return remove_tmp_dirs(checkpoints_dir, std::nullopt);
}

Status remove_stale_tmp_dirs_before(const std::string& checkpoints_dir, int64_t before_step) {
  return remove_tmp_dirs(checkpoints_dir, before_step);
}

}  // namespace tessera

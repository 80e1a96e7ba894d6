#include "tessera/ckpt/sharded_commit.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "tessera/ckpt/checkpoint_part.h"
#include "tessera/core/check.h"
#include "tessera/core/clock.h"
#include "tessera/core/file.h"
#include "tessera/core/hash.h"

namespace tessera {

namespace {

namespace fs = std::filesystem;

std::string tmp_dir_of(const std::string& checkpoints_dir, int64_t step) {
  return checkpoints_dir + "/" + step_dir_name(step) + std::string(kTmpDirSuffix);
}

// Removes this rank's own file left at `path` by a crashed earlier attempt; nothing there is fine.
Status remove_own_stale_file(const std::string& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return Status();
  return io_error("cannot remove the stale '{}': {}", path, std::strerror(errno));
}

// Steps 1-2: this rank's data file, durable, and the part that describes it.
StatusOr<CheckpointPart> write_own_part(const SnapshotWriter& snapshot, int64_t step, const std::string& tmp_dir,
                                        const ShardedCommit& sharding, const CheckpointWriteOptions& options,
                                        bool* crashed) {
  TESSERA_RETURN_IF_ERROR(snapshot.finish_part());
  TESSERA_RETURN_IF_ERROR(make_directories(tmp_dir));
  const std::string data_file = data_file_name(sharding.rank);
  TESSERA_RETURN_IF_ERROR(remove_own_stale_file(tmp_dir + "/" + part_file_name(sharding.rank)));
  TESSERA_RETURN_IF_ERROR(remove_own_stale_file(tmp_dir + "/" + data_file));
  CheckpointPart part{sharding.save_id, sharding.rank, sharding.world_size, std::nullopt, Manifest{}};
  part.manifest.step = step;
  part.manifest.created_unix_s = snapshot.created_unix_s();
  part.manifest.metadata = snapshot.metadata();
  part.manifest.scalars = snapshot.scalars();
  TESSERA_RETURN_IF_ERROR(write_data_file(snapshot, tmp_dir, data_file, &part.manifest, options));
  TESSERA_RETURN_IF_ERROR(fsync_directory(tmp_dir));  // the data file's name is durable too
  Status stop = options.stop_after ? options.stop_after(CommitPoint::kDataWritten) : Status();
  *crashed = !stop.ok();
  TESSERA_RETURN_IF_ERROR(stop);
  return part;
}

// Reads rank `rank`'s published part if it belongs to this save; nullopt while there is none (no file
// yet, or a crashed run's part with another save_id). A failure marker becomes that rank's error.
StatusOr<std::optional<CheckpointPart>> poll_part(const std::string& tmp_dir, int64_t step, int rank,
                                                  const ShardedCommit& sharding) {
  const std::string path = tmp_dir + "/" + part_file_name(rank);
  auto text = read_file(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::optional<CheckpointPart>();
    return text.status();
  }
  auto part = part_from_json(*text);
  if (!part.ok()) return part.status().with_context(fmt::format("'{}'", path));
  if (part->save_id != sharding.save_id) return std::optional<CheckpointPart>();  // a crashed run's
  if (part->rank != rank || part->manifest.step != step) {
    return data_loss_error("'{}' is the part of rank {} at step {}; expected rank {} at step {}", path, part->rank,
                           part->manifest.step, rank, step);
  }
  if (part->failure) {
    return Status(part->failure->code(),
                  fmt::format("rank {} failed to write its part: {}", rank, part->failure->message()));
  }
  if (part->world_size != sharding.world_size) {
    return invalid_argument_error("rank {} saved with world size {}, rank 0 with {}; hint: every rank of a job "
                                  "must construct its checkpointer with the same world_size",
                                  rank, part->world_size, sharding.world_size);
  }
  const DataFileEntry& file = part->manifest.data_files[0];
  std::error_code error;
  const uintmax_t bytes = fs::file_size(tmp_dir + "/" + file.name, error);
  if (error || bytes != file.bytes) {
    return data_loss_error("rank {}'s data file '{}/{}' is {}, its part says {} bytes", rank, tmp_dir, file.name,
                           error ? error.message() : fmt::format("{} bytes", bytes), file.bytes);
  }
  return std::optional<CheckpointPart>(std::move(part).value());
}

// Step 4: every rank's part of this save, in rank order, or the first error / the deadline.
StatusOr<std::vector<CheckpointPart>> collect_parts(CheckpointPart own, const std::string& tmp_dir, int64_t step,
                                                    const ShardedCommit& sharding) {
  std::vector<std::optional<CheckpointPart>> parts(static_cast<size_t>(sharding.world_size));
  parts[0] = std::move(own);
  const double deadline = now_seconds() + sharding.part_deadline_seconds;
  double pause = 0.001;
  while (true) {
    std::vector<int> missing;
    for (int rank = 1; rank < sharding.world_size; ++rank) {
      if (parts[rank]) continue;
      TESSERA_ASSIGN_OR_RETURN(parts[rank], poll_part(tmp_dir, step, rank, sharding));
      if (!parts[rank]) missing.push_back(rank);
    }
    if (missing.empty()) break;
    const double left = deadline - now_seconds();
    if (left <= 0) {
      return deadline_exceeded_error(
          "rank{} {} of world size {} did not publish {} part within {} s (save {}); nothing was committed; hint: "
          "a rank that crashed or did not call save() for this step",
          missing.size() == 1 ? "" : "s", fmt::join(missing, ", "), sharding.world_size,
          missing.size() == 1 ? "its" : "their", sharding.part_deadline_seconds, hash_to_hex(sharding.save_id));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(pause, left)));
    pause = std::min(pause * 2, 0.05);
  }
  std::vector<CheckpointPart> out;
  for (auto& part : parts) out.push_back(std::move(*part));
  return out;
}

// Step 5's clean-up: the committed directory holds the manifest's data files and nothing else.
Status remove_unlisted_entries(const std::string& tmp_dir, const Manifest& manifest) {
  std::set<std::string> listed;
  for (const DataFileEntry& file : manifest.data_files) listed.insert(file.name);
  std::error_code error;
  std::vector<fs::path> unlisted;
  for (const auto& entry : fs::directory_iterator(tmp_dir, error)) {
    if (!listed.count(entry.path().filename().string())) unlisted.push_back(entry.path());
  }
  if (error) return io_error("cannot list '{}': {}", tmp_dir, error.message());
  for (const fs::path& path : unlisted) {
    fs::remove_all(path, error);
    if (error) return io_error("cannot remove '{}': {}", path.string(), error.message());
  }
  return fsync_directory(tmp_dir);
}

Status write_sharded(const SnapshotWriter& snapshot, int64_t step, const std::string& checkpoints_dir,
                     const ShardedCommit& sharding, const CheckpointWriteOptions& options, bool* crashed) {
  const std::string tmp_dir = tmp_dir_of(checkpoints_dir, step);
  TESSERA_ASSIGN_OR_RETURN(CheckpointPart own, write_own_part(snapshot, step, tmp_dir, sharding, options, crashed));
  if (sharding.rank != 0) {
    return write_file_atomic(tmp_dir + "/" + part_file_name(sharding.rank), part_to_json(own));
  }
  TESSERA_ASSIGN_OR_RETURN(std::vector<CheckpointPart> parts, collect_parts(std::move(own), tmp_dir, step, sharding));
  TESSERA_ASSIGN_OR_RETURN(Manifest manifest, merge_parts(parts));
  TESSERA_RETURN_IF_ERROR(remove_unlisted_entries(tmp_dir, manifest));
  return commit_step_dir(manifest, tmp_dir, checkpoints_dir + "/" + step_dir_name(step), checkpoints_dir, options,
                         crashed);
}

}  // namespace

Status check_sharded_commit(const ShardedCommit& sharding) {
  if (sharding.world_size < 1 || sharding.rank < 0 || sharding.rank >= sharding.world_size) {
    return invalid_argument_error("checkpoint sharding: rank {} is outside world size {}; expected 0 <= rank < "
                                  "world_size",
                                  sharding.rank, sharding.world_size);
  }
  if (!(sharding.part_deadline_seconds > 0) || !std::isfinite(sharding.part_deadline_seconds)) {
    return invalid_argument_error("checkpoint sharding: part_deadline_seconds = {}; expected a positive number",
                                  sharding.part_deadline_seconds);
  }
  return Status();
}

Status write_sharded_checkpoint(const SnapshotWriter& snapshot, int64_t step, const std::string& checkpoints_dir,
                                const ShardedCommit& sharding, const CheckpointWriteOptions& options) {
  const std::string context = fmt::format("checkpoint step {}", step);
  TESSERA_RETURN_IF_ERROR(check_sharded_commit(sharding).with_context(context));
  bool crashed = false;
  Status status = write_sharded(snapshot, step, checkpoints_dir, sharding, options, &crashed);
  if (status.ok() || crashed) return status.with_context(context);
  if (sharding.rank != 0) {
    // Tell rank 0 now rather than at its deadline. The partial data file stays: only rank 0 removes.
    Status published = publish_part_failure(step, checkpoints_dir, sharding, status);
    if (!published.ok()) {
      return Status(status.code(), fmt::format("{} (and the failure marker could not be published: {})",
                                               status.message(), published.message()))
          .with_context(context);
    }
  }
  return status.with_context(context);
}

Status publish_part_failure(int64_t step, const std::string& checkpoints_dir, const ShardedCommit& sharding,
                            const Status& error) {
  TESSERA_CHECK(!error.ok(), "a failure marker needs an error");
  const std::string tmp_dir = tmp_dir_of(checkpoints_dir, step);
  TESSERA_RETURN_IF_ERROR(make_directories(tmp_dir));
  CheckpointPart marker{sharding.save_id, sharding.rank, sharding.world_size, error, Manifest{}};
  marker.manifest.step = step;
  return write_file_atomic(tmp_dir + "/" + part_file_name(sharding.rank), part_to_json(marker));
}

}  // namespace tessera

#include "tessera/ckpt/async_checkpointer.h"

#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/core/clock.h"
#include "tessera/core/file.h"
#include "tessera/core/log.h"

namespace tessera {

namespace {

// The background half of a save: the commit protocol, then retention. Retention runs only after a
// successful commit, so a failing disk never deletes the last good checkpoints. Sharded, only rank 0
// commits and retains, and it removes only the tmp directories of older steps: other ranks may
// already be writing newer ones.
Status write_and_retain(const SnapshotWriter& snapshot, int64_t step, const std::string& checkpoints_dir,
                        int keep_last, const CheckpointWriteOptions& options, const ShardedCommit& sharding) {
  if (!sharding.sharded()) {
    TESSERA_RETURN_IF_ERROR(write_checkpoint(snapshot, step, checkpoints_dir, options).status());
    TESSERA_RETURN_IF_ERROR(remove_old_checkpoints(checkpoints_dir, keep_last, step));
    return remove_stale_tmp_dirs(checkpoints_dir);
  }
  TESSERA_RETURN_IF_ERROR(write_sharded_checkpoint(snapshot, step, checkpoints_dir, sharding, options));
  if (sharding.rank != 0) return Status();
  TESSERA_RETURN_IF_ERROR(remove_old_checkpoints(checkpoints_dir, keep_last, step));
  return remove_stale_tmp_dirs_before(checkpoints_dir, step);
}

// What the constructor checks and cleans; its error is returned by every save().
Status set_up(const std::string& checkpoints_dir, const CheckpointWriteOptions& options,
              const ShardedCommit& sharding) {
  TESSERA_RETURN_IF_ERROR(check_sharded_commit(sharding));
  if (!sharding.sharded()) return Status();
  if (options.rank != 0 && options.rank != sharding.rank) {
    return invalid_argument_error("checkpointer: CheckpointWriteOptions.rank {} != ShardedCommit.rank {}; hint: "
                                  "a sharded save names its data file by ShardedCommit.rank",
                                  options.rank, sharding.rank);
  }
  // Before any save of this run: whatever *.tmp is there is a crashed run's (its parts carry another
  // save_id, but the files would stay forever otherwise).
  if (sharding.rank == 0 && path_exists(checkpoints_dir)) return remove_stale_tmp_dirs(checkpoints_dir);
  return Status();
}

}  // namespace

AsyncCheckpointer::AsyncCheckpointer(std::string checkpoints_dir, int keep_last, CheckpointWriteOptions options,
                                     ShardedCommit sharding)
    : checkpoints_dir_(std::move(checkpoints_dir)),
      keep_last_(keep_last),
      options_(std::move(options)),
      sharding_(sharding),
      setup_status_(set_up(checkpoints_dir_, options_, sharding_).with_context("checkpointer")) {}

AsyncCheckpointer::AsyncCheckpointer(AsyncCheckpointer&& other) noexcept
    : checkpoints_dir_(std::move(other.checkpoints_dir_)),
      keep_last_(other.keep_last_),
      options_(std::move(other.options_)),
      sharding_(other.sharding_),
      setup_status_(std::move(other.setup_status_)),
      metadata_(std::move(other.metadata_)),
      in_flight_(std::move(other.in_flight_)),
      deferred_snapshot_(other.deferred_snapshot_),
      buffer_pool_(std::move(other.buffer_pool_)),
      last_stats_(other.last_stats_) {}

AsyncCheckpointer& AsyncCheckpointer::operator=(AsyncCheckpointer&& other) noexcept {
  if (this != &other) {
    Status status = wait();
    if (!status.ok()) log_error("checkpoint write dropped by move-assignment failed: {}", status.message());
    checkpoints_dir_ = std::move(other.checkpoints_dir_);
    keep_last_ = other.keep_last_;
    options_ = std::move(other.options_);
    sharding_ = other.sharding_;
    setup_status_ = std::move(other.setup_status_);
    metadata_ = std::move(other.metadata_);
    in_flight_ = std::move(other.in_flight_);
    deferred_snapshot_ = other.deferred_snapshot_;
    buffer_pool_ = std::move(other.buffer_pool_);
    last_stats_ = other.last_stats_;
  }
  return *this;
}

AsyncCheckpointer::~AsyncCheckpointer() {
  Status status = wait();
  if (!status.ok()) log_error("last checkpoint write failed: {}", status.message());
}

double AsyncCheckpointer::wait_snapshot() {
  if (in_flight_ == nullptr) return 0;
  const Stopwatch waited;
  std::unique_lock lock(in_flight_->mutex);
  in_flight_->copied_signal.wait(lock, [&] { return in_flight_->copied; });
  return waited.elapsed_seconds();
}

Status AsyncCheckpointer::wait() {
  if (in_flight_ == nullptr) return Status();
  in_flight_->thread.join();
  Status status = std::move(in_flight_->status);
  if (status.ok()) last_stats_ = in_flight_->stats;
  buffer_pool_.clear();  // only the latest snapshot's sizes are worth keeping
  in_flight_->snapshot->release_buffers(buffer_pool_);
  in_flight_.reset();
  return status;
}

Status AsyncCheckpointer::save(int64_t step, const std::function<void(StateWriter&)>& snapshot) {
  TESSERA_RETURN_IF_ERROR(setup_status_);
  TESSERA_RETURN_IF_ERROR(wait());
  Stopwatch stopwatch;
  auto writer = std::make_unique<SnapshotWriter>(&buffer_pool_);
  if (deferred_snapshot_) writer->defer_copies();
  for (const auto& [key, value] : metadata_) writer->set_metadata(key, value);
  snapshot(*writer);
  buffer_pool_.clear();  // buffers the state no longer needs (sizes changed) are not kept
  const std::string context = fmt::format("checkpoint step {}", step);
  Status finished = sharding_.sharded() ? writer->finish_part() : writer->finish();
  if (!finished.ok()) {
    if (sharding_.sharded() && sharding_.rank != 0) {
      Status published = publish_part_failure(step, checkpoints_dir_, sharding_, finished);
      if (!published.ok()) log_error("{}: cannot publish the failure marker: {}", context, published.message());
    }
    return finished.with_context(context);
  }

  in_flight_ = std::make_unique<InFlight>();
  InFlight* in_flight = in_flight_.get();
  in_flight->stats = CheckpointSaveStats{
      .step = step, .snapshot_seconds = stopwatch.elapsed_seconds(), .bytes = writer->tensor_bytes()};
  in_flight->snapshot = std::move(writer);
  // The thread reads the snapshot and writes only into *in_flight, which stays put (heap) until
  // wait() has joined the thread; the checkpointer touches it only after the join.
  in_flight->thread = std::thread([in_flight, step, dir = checkpoints_dir_, keep_last = keep_last_, options = options_,
                                    sharding = sharding_] {
    const Stopwatch copy_clock;
    in_flight->snapshot->copy_deferred();
    in_flight->stats.deferred_copy_seconds = copy_clock.elapsed_seconds();
    {
      std::lock_guard lock(in_flight->mutex);
      in_flight->copied = true;
    }
    in_flight->copied_signal.notify_all();
    Stopwatch write_clock;
    in_flight->status = write_and_retain(*in_flight->snapshot, step, dir, keep_last, options, sharding);
    in_flight->stats.write_seconds = write_clock.elapsed_seconds();
  });
  return Status();
}

}  // namespace tessera

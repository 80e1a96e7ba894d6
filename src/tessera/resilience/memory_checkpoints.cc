#include "tessera/resilience/memory_checkpoints.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/ckpt/checkpoint_format.h"
#include "tessera/ckpt/checkpoint_writer.h"
#include "tessera/core/rank_local_state.h"
#include "tessera/ckpt/snapshot_writer.h"
#include "tessera/comm/flagged_ranks.h"
#include "tessera/comm/shm_communicator.h"
#include "tessera/core/clock.h"
#include "tessera/core/file.h"
#include "tessera/core/hash.h"
#include "tessera/core/log.h"
#include "tessera/resilience/step_dir_transfer.h"

namespace tessera {

namespace {

// Tags of the step directory transfers on the world communicator (no other world traffic uses tags; a transfer
// uses its tag and the few after it, step_dir_transfer.h).
constexpr int kSaveTag = 0x4d43;     // "MC"
constexpr int kRestoreTag = 0x4d63;

// The run directory as one spelling: absolute, "..", "." and links resolved, no trailing separator.
std::string absolute_run_dir(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::weakly_canonical(std::filesystem::absolute(run_dir, ec), ec);
  if (ec) return run_dir;
  if (!absolute.has_filename()) absolute = absolute.parent_path();
  return absolute.string();
}

// The committed steps in `dir`, newest first, at most two (a save keeps one; a crash mid-save two).
std::vector<int64_t> newest_committed_steps(const std::string& dir) {
  std::vector<int64_t> steps;
  for (const std::string& path : list_checkpoints(dir)) {
    if (const auto step = parse_step_dir_name(std::filesystem::path(path).filename().string())) steps.push_back(*step);
  }
  std::sort(steps.rbegin(), steps.rend());
  if (steps.size() > 2) steps.resize(2);
  return steps;
}

bool holds(const int64_t* steps, int64_t step) { return steps[0] == step || steps[1] == step; }

// Opens `step_dir` and checks every chunk; a failure moves it to <dir>/quarantine/ with a warning.
std::optional<CheckpointReader> open_verified_or_quarantine(const std::string& dir, int64_t step, int rank,
                                                            const char* whose) {
  const std::string path = dir + "/" + step_dir_name(step);
  StatusOr<CheckpointReader> reader = CheckpointReader::open(path);
  Status verified = reader.ok() ? reader->verify_all() : reader.status();
  if (verified.ok()) return std::move(reader).value();
  const std::string quarantine = dir + "/quarantine/" + step_dir_name(step) + ".corrupt";
  std::error_code ec;
  std::filesystem::create_directories(dir + "/quarantine", ec);
  std::filesystem::remove_all(quarantine, ec);
  std::filesystem::rename(path, quarantine, ec);
  log_warning("checkpoints: rank {}'s {} in host memory at step {} does not verify ({}); moved to '{}'", rank, whose,
              step, verified.message(), ec ? "(could not be moved: " + ec.message() + ")" : quarantine);
  return std::nullopt;
}

}  // namespace

std::string memory_checkpoints_root(const std::string& run_dir) {
  return fmt::format("/dev/shm/tessera-{}-{}", ::getuid(), hash_to_hex(hash_bytes(absolute_run_dir(run_dir))));
}

void remove_memory_checkpoints(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::remove_all(memory_checkpoints_root(run_dir), ec);
}

MemoryCheckpoints::MemoryCheckpoints(Communicator& world, std::string root, int partner, int source,
                                     bool partner_other_host, bool host_leader)
    : world_(world), root_(std::move(root)), partner_(partner), source_(source),
      partner_other_host_(partner_other_host), host_leader_(host_leader) {}

StatusOr<std::unique_ptr<MemoryCheckpoints>> MemoryCheckpoints::create(Communicator& world, const std::string& root,
                                                                      const std::string& layout_key, bool fresh_run) {
  TESSERA_ASSIGN_OR_RETURN(const HostLayout hosts, detect_hosts(world));
  const int n = world.size(), r = world.rank();
  // The ranks of every host, ascending.
  std::vector<std::vector<int>> ranks_of_host(hosts.hosts);
  for (int rank = 0; rank < n; ++rank) ranks_of_host[hosts.host_of_rank[rank]].push_back(rank);
  bool equal_hosts = hosts.hosts >= 2;
  for (const auto& ranks : ranks_of_host) equal_hosts = equal_hosts && ranks.size() == ranks_of_host[0].size();
  int partner = -1, source = -1;
  if (equal_hosts) {
    partner = ranks_of_host[(hosts.host + 1) % hosts.hosts][hosts.local_rank];
    source = ranks_of_host[(hosts.host + hosts.hosts - 1) % hosts.hosts][hosts.local_rank];
  } else if (n > 1) {
    partner = (r + 1) % n;
    source = (r + n - 1) % n;
  }
  const bool other_host = partner >= 0 && hosts.host_of_rank[partner] != hosts.host;
  std::unique_ptr<MemoryCheckpoints> store(
      new MemoryCheckpoints(world, root, partner, source, other_host, hosts.local_rank == 0));
  const std::string layout_dir = root + "/" + hash_to_hex(hash_bytes(layout_key));
  store->own_dir_ = fmt::format("{}/rank_{}", layout_dir, r);
  store->copy_dir_ = source >= 0 ? fmt::format("{}/copy_of_rank_{}", layout_dir, source) : "";

  if (fresh_run) {
    // An earlier run's committed state in this host's memory, under any layout, is the only copy of its
    // newest steps: a fresh run does not overwrite it.
    bool leftover = false;
    std::error_code ec;
    for (const auto& layout : std::filesystem::directory_iterator(root, ec)) {
      for (const auto& holder : std::filesystem::directory_iterator(layout.path(), ec)) {
        leftover = leftover || !list_checkpoints(holder.path().string()).empty();
      }
    }
    TESSERA_ASSIGN_OR_RETURN(const std::vector<int> flagged,
                             ranks_flagging(world, leftover, "in-memory checkpoint check"));
    if (!flagged.empty()) {
      return failed_precondition_error(
          "train: the run directory has checkpoints in host memory ('{}', seen by rank(s) {}) from an earlier run; "
          "hint: pass --resume to continue it, or --out NEW_DIR",
          root, fmt::join(flagged, ","));
    }
    if (hosts.local_rank == 0) std::filesystem::remove_all(root, ec);  // unfinished saves of earlier runs
    TESSERA_RETURN_IF_ERROR(world.barrier().with_context("in-memory checkpoints"));
  }
  Status made = make_directories(store->own_dir_);
  if (made.ok() && source >= 0) made = make_directories(store->copy_dir_);
  TESSERA_ASSIGN_OR_RETURN(const std::vector<int> failed, ranks_flagging(world, !made.ok(), "in-memory checkpoint directories"));
  if (!failed.empty()) {
    return failed_precondition_error("train.ckpt_in_memory_every: rank(s) {} cannot make their directories under '{}'{}; "
                                     "hint: check that /dev/shm is writable, or set train.ckpt_in_memory_every = 0",
                                     fmt::join(failed, ","), root, made.ok() ? "" : " (" + made.message() + ")");
  }
  return store;
}

void MemoryCheckpoints::keep_only(const std::string& dir, int64_t step) {
  std::error_code ec;
  const std::string keep = step_dir_name(step);
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step_", 0) == 0 && name != keep) std::filesystem::remove_all(entry.path(), ec);
  }
}

Status MemoryCheckpoints::save(int64_t step, const std::function<void(StateWriter&)>& snapshot_state) {
  const Stopwatch watch;
  // 1. This rank's own state, as one committed checkpoint in this host's memory, written straight from the
  //    state's buffers (the save is synchronous: nothing changes them meanwhile).
  Status mine;
  std::string written_dir;
  uint64_t bytes = 0;
  {
    SnapshotWriter snapshot;
    snapshot.reference_only();
    RankLocalStateWriter local(snapshot);
    snapshot_state(local);
    mine = snapshot.finish();
    bytes = snapshot.tensor_bytes();
    if (mine.ok()) {
      StatusOr<std::string> written = write_checkpoint(snapshot, step, own_dir_);
      mine = written.status();
      if (mine.ok()) written_dir = std::move(written).value();
    }
  }
  // 2. Its files to the partner, the source's into the copy (a rank whose own save failed sends "nothing").
  const Stopwatch exchange_watch;
  const std::string copy = source_ >= 0 ? copy_dir_ + "/" + step_dir_name(step) : "";
  if (source_ >= 0) {
    std::error_code ec;
    std::filesystem::remove_all(copy, ec);  // the same step saved again (a replay)
  }
  const Status exchanged = exchange_step_dirs(world_, written_dir, partner_, copy, source_, kSaveTag);
  if (mine.ok()) mine = exchanged;
  const double exchange_seconds = exchange_watch.elapsed_seconds();
  // 3. The previous step goes only once every rank holds the new one and its copy.
  TESSERA_ASSIGN_OR_RETURN(const std::vector<int> failed, ranks_flagging(world_, !mine.ok(), "in-memory checkpoint"));
  if (!failed.empty()) {
    return internal_error("in-memory checkpoint of step {} failed on rank(s) {}{}; the previous one is kept", step,
                          fmt::join(failed, ","), mine.ok() ? "" : ": " + mine.message());
  }
  keep_only(own_dir_, step);
  if (source_ >= 0) keep_only(copy_dir_, step);
  last_save_ = {.step = step, .seconds = watch.elapsed_seconds(), .exchange_seconds = exchange_seconds,
                .bytes = bytes};
  return Status();
}

StatusOr<std::optional<MemoryRestore>> MemoryCheckpoints::restore(std::optional<CheckpointReader>* reader) {
  reader->reset();
  const int n = world_.size(), r = world_.rank();
  // Every rank's inventory: [own newest, own previous, copy newest, copy previous, partner]; -1 = none.
  std::vector<int64_t> record(5, -1), table(5 * static_cast<size_t>(n));
  const std::vector<int64_t> own = newest_committed_steps(own_dir_);
  const std::vector<int64_t> copies = source_ >= 0 ? newest_committed_steps(copy_dir_) : std::vector<int64_t>{};
  std::copy(own.begin(), own.end(), record.begin());
  std::copy(copies.begin(), copies.end(), record.begin() + 2);
  record[4] = partner_;
  TESSERA_RETURN_IF_ERROR(world_.all_gather_bytes(record.data(), table.data(), 5 * sizeof(int64_t))
                              .with_context("in-memory checkpoint inventory"));
  const auto own_of = [&](int rank) { return &table[5 * static_cast<size_t>(rank)]; };
  const auto copy_of = [&](int rank) {  // the copy steps of `rank`'s state, at its partner
    const int64_t holder = table[5 * static_cast<size_t>(rank) + 4];
    static const int64_t kNone[2] = {-1, -1};
    return holder < 0 ? kNone : &table[5 * static_cast<size_t>(holder) + 2];
  };
  std::vector<int64_t> candidates;  // every step some rank holds, newest first
  for (int rank = 0; rank < n; ++rank) {
    for (int i = 0; i < 4; ++i) {
      if (own_of(rank)[i] >= 0) candidates.push_back(own_of(rank)[i]);
    }
  }
  std::sort(candidates.rbegin(), candidates.rend());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());

  for (const int64_t step : candidates) {
    bool complete = true;
    for (int rank = 0; rank < n && complete; ++rank) complete = holds(own_of(rank), step) || holds(copy_of(rank), step);
    if (!complete) continue;
    // Verify what this rank holds at `step`; bad states are quarantined.
    std::optional<CheckpointReader> mine;
    if (holds(own_of(r), step)) mine = open_verified_or_quarantine(own_dir_, step, r, "own state");
    bool copy_good = false;
    if (source_ >= 0 && holds(copy_of(source_), step)) {
      copy_good = open_verified_or_quarantine(copy_dir_, step, r, fmt::format("copy of rank {}", source_).c_str()).has_value();
    }
    std::vector<int64_t> good{mine.has_value() ? 1 : 0, copy_good ? 1 : 0}, all_good(2 * static_cast<size_t>(n));
    TESSERA_RETURN_IF_ERROR(world_.all_gather_bytes(good.data(), all_good.data(), 2 * sizeof(int64_t))
                                .with_context("in-memory checkpoint verification"));
    std::vector<int> needy;  // ranks whose own state is missing or bad
    bool restorable = true;
    for (int rank = 0; rank < n; ++rank) {
      if (all_good[2 * rank] != 0) continue;
      needy.push_back(rank);
      const int64_t holder = table[5 * static_cast<size_t>(rank) + 4];
      restorable = restorable && holder >= 0 && all_good[2 * holder + 1] != 0;
    }
    if (!restorable) continue;
    // Partners send their copies to the ranks that need them.
    const bool source_needs = source_ >= 0 && std::find(needy.begin(), needy.end(), source_) != needy.end();
    const bool i_need = !mine.has_value();
    const std::string own_step = own_dir_ + "/" + step_dir_name(step);
    if (i_need) {
      std::error_code ec;
      std::filesystem::remove_all(own_step, ec);
    }
    Status got = exchange_step_dirs(world_, source_needs ? copy_dir_ + "/" + step_dir_name(step) : "",
                                    source_needs ? source_ : -1, own_step, i_need ? partner_ : -1, kRestoreTag);
    if (got.ok() && i_need) {
      mine = open_verified_or_quarantine(own_dir_, step, r, "state received from its partner");
      if (!mine) got = data_loss_error("the copy received from rank {} does not verify", partner_);
    }
    TESSERA_ASSIGN_OR_RETURN(const std::vector<int> failed, ranks_flagging(world_, !got.ok(), "in-memory restore"));
    if (!failed.empty()) {
      return data_loss_error("restoring step {} from host memory failed on rank(s) {}{}", step, fmt::join(failed, ","),
                             got.ok() ? "" : ": " + got.message());
    }
    *reader = std::move(mine);
    return std::optional<MemoryRestore>(MemoryRestore{.step = step, .restored_from_copy = needy});
  }
  return std::optional<MemoryRestore>();
}

Status MemoryCheckpoints::remove_all() {
  TESSERA_RETURN_IF_ERROR(world_.barrier().with_context("in-memory checkpoints"));
  if (host_leader_) {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  return Status();
}

}  // namespace tessera

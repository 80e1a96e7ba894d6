#include "tessera/resilience/memory_checkpoints.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tessera/comm/flagged_ranks.h"
#include "tessera/core/hash.h"

namespace tessera {

namespace {

// The run directory as one spelling: absolute, "..", "." and links resolved, no trailing separator.
std::string absolute_run_dir(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::weakly_canonical(std::filesystem::absolute(run_dir, ec), ec);
  if (ec) return run_dir;
  if (!absolute.has_filename()) absolute = absolute.parent_path();
  return absolute.string();
}

// /dev/shm: a tmpfs, host memory, on every Linux (the shm communicator's segments live there too).
std::string memory_root(const std::string& run_dir) {
  return fmt::format("/dev/shm/tessera-{}-{}", ::getuid(), hash_to_hex(hash_bytes(absolute_run_dir(run_dir))));
}

}  // namespace

std::string memory_checkpoints_dir(const std::string& run_dir) {
  return memory_root(run_dir) + "/checkpoints";
}

Status prepare_memory_checkpoints(Communicator& world, const std::string& run_dir, bool fresh_run) {
  const std::string root = memory_root(run_dir);
  const std::string token_path = root + "/token";
  // Rank 0's token: time and pid, different for every run (and every restart).
  uint64_t token = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                   (static_cast<uint64_t>(::getpid()) << 40);
  std::string problem;
  if (world.rank() == 0) {
    std::error_code ec;
    if (fresh_run) std::filesystem::remove_all(root, ec);
    std::filesystem::create_directories(root + "/checkpoints", ec);
    std::ofstream out(token_path, std::ios::trunc);
    out << token << "\n";
    out.close();
    if (ec || !out) problem = fmt::format("cannot write '{}'{}", token_path, ec ? ": " + ec.message() : "");
  }
  TESSERA_RETURN_IF_ERROR(world.broadcast(&token, sizeof(token), 0).with_context("in-memory checkpoint token"));
  if (world.rank() != 0) {
    std::ifstream in(token_path);
    uint64_t seen = 0;
    if (!(in >> seen) || seen != token) problem = fmt::format("'{}' is missing or holds another run's token", token_path);
  }
  // Every rank learns whether every rank sees rank 0's directory, and which did not.
  TESSERA_ASSIGN_OR_RETURN(const std::vector<int> failed,
                           ranks_flagging(world, !problem.empty(), "in-memory checkpoint check"));
  if (failed.empty()) return Status();
  return failed_precondition_error(
      "train.ckpt_in_memory_every: rank(s) {} do not see rank 0's in-memory checkpoint directory '{}'{}; expected every "
      "rank on one host with a writable /dev/shm; hint: set train.ckpt_in_memory_every = 0",
      fmt::join(failed, ","), root, problem.empty() ? "" : " (" + problem + ")");
}

void remove_memory_checkpoints(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::remove_all(memory_root(run_dir), ec);
}

}  // namespace tessera

// tessera bench comm [--min-bytes N] [--max-bytes N] [--ops LIST] [--backends LIST] [--pool-mib N] [--json]
//   Under mpirun: all_reduce, reduce_scatter and all_gather of buckets from 4 KiB to 256 MiB on each backend,
//   with fresh buffers every iteration (a pool of buffers larger than the last-level cache, cycled), and
//   per size: time, algorithm bandwidth S/t, bus bandwidth, and for all_reduce the memory-traffic
//   efficiency (2·p·S/t) / copy bandwidth, where the copy bandwidth is measured in the same run with every
//   rank memcpy-ing fresh 16 MiB slices at once (docs/communication.md).
//   Backends: shm (buffers from Communicator::allocate: in place), shm-staged (plain buffers, copied
//   through the staging slots), mpi (the mpi backend: nonblocking, with deadline and descriptor check),
//   mpi-plain (one blocking MPI_Allreduce / MPI_Reduce_scatter_block / MPI_Allgather: the baseline).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_checks.h"
#include "commands.h"
#include "tessera/comm/comm_factory.h"
#include "tessera/comm/mpi_communicator.h"

namespace tessera::tools {

namespace {

struct BenchCommArgs {
  int64_t min_bytes = 4 << 10;
  int64_t max_bytes = int64_t{256} << 20;
  std::string ops = "all_reduce,reduce_scatter,all_gather";
  std::string backends = "shm,shm-staged,mpi,mpi-plain";
  int64_t pool_mib = 96;  // per rank (at least 2 × max-bytes), > the 32 MiB L3 of the machines we run on
  bool json = false;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// The slowest rank's time of each iteration, then the median and the best over iterations. On a loaded
// machine the best is the iteration least disturbed by other processes; the median is what a step sees.
struct Timing {
  double median = 0, best = 0;
};
StatusOr<Timing> slowest(Communicator& world, std::vector<double> times) {
  TESSERA_RETURN_IF_ERROR(world.all_reduce(times.data(), static_cast<int64_t>(times.size()), ReduceOp::kMax));
  std::sort(times.begin(), times.end());
  return Timing{times[times.size() / 2], times.front()};
}

// Copy bandwidth with every rank copying at once (read + write bytes counted, as STREAM's Copy does), timed
// like the collectives: `slice` bytes per iteration, fresh slices of a pool larger than the cache, median
// of the slowest rank.
StatusOr<Timing> copy_bandwidth(Communicator& world, int64_t pool_bytes, int64_t slice) {
  std::vector<char> from(static_cast<size_t>(pool_bytes), 1), to(static_cast<size_t>(pool_bytes), 2);
  const int64_t slots = pool_bytes / slice;
  std::vector<double> times;
  for (int64_t i = 0; i < 41; ++i) {
    const int64_t at = (i % slots) * slice;
    TESSERA_RETURN_IF_ERROR(world.barrier());
    const double t0 = now_s();
    std::memcpy(to.data() + at, from.data() + at, static_cast<size_t>(slice));
    if (i > 0) times.push_back(now_s() - t0);
  }
  TESSERA_ASSIGN_OR_RETURN(Timing t, slowest(world, times));
  const double bytes = 2.0 * static_cast<double>(slice) * world.size();
  return Timing{bytes / t.median, bytes / t.best};  // bandwidths, bytes/s
}

struct Row {
  std::string op, backend;
  int64_t bytes = 0;
  double seconds = 0;       // median
  double best_seconds = 0;  // best iteration
};

// The buffers of one backend: one pool of `bytes` (from allocate() for shm, so collectives on any slice of
// it run in place; plain memory otherwise), touched once so that no page fault is timed.
struct Pool {
  CommBuffer shared;
  std::vector<float> plain;
  float* data = nullptr;
  int64_t bytes = 0;
};

StatusOr<Pool> make_pool(Communicator& comm, bool shared, int64_t bytes) {
  Pool pool;
  pool.bytes = bytes;
  if (shared) {
    TESSERA_ASSIGN_OR_RETURN(pool.shared, comm.allocate(bytes));
    pool.data = pool.shared.as<float>();
  } else {
    pool.plain.resize(static_cast<size_t>(bytes / 4));
    pool.data = pool.plain.data();
  }
  std::fill(pool.data, pool.data + bytes / 4, 1.0f);
  // Every rank reads every peer's whole pool once: the peers' mappings are populated before timing.
  for (int root = 0; root < comm.size(); ++root) TESSERA_RETURN_IF_ERROR(comm.broadcast(pool.data, bytes, root));
  return pool;
}

Status run_one(Communicator& world, Communicator& comm, const std::string& backend, CommOpKind op, int64_t bytes,
               Pool& pool, Row* row) {
  const int p = comm.size();
  const int64_t floats = bytes / 4;
  // all_reduce: S in place; reduce_scatter: S in → S/p out; all_gather: S/p in → S out (nccl-tests' sizes).
  const int64_t count = op == CommOpKind::kAllReduce ? floats : floats / p;
  if (count == 0) return Status();
  const int64_t slots = pool.bytes / bytes;  // ≥ 2: consecutive iterations never touch the same bytes
  std::vector<float> small(static_cast<size_t>(std::max<int64_t>(floats, 1)), 0.0f);  // the other side of rs/ag
  const int64_t iters = std::clamp<int64_t>((int64_t{1} << 30) / bytes, 6, 200);
  std::vector<double> times;
  for (int64_t i = 0; i < iters + 1; ++i) {
    float* buf = pool.data + (i % slots) * floats;
    TESSERA_RETURN_IF_ERROR(world.barrier());
    const double t0 = now_s();
    if (backend == "mpi-plain") {
      const void* in = op == CommOpKind::kAllGather ? static_cast<const void*>(small.data()) : buf;
      void* out = op == CommOpKind::kReduceScatter ? static_cast<void*>(small.data()) : buf;
      TESSERA_RETURN_IF_ERROR(mpi_plain_collective(comm, op, in, out, count, DataType::kFloat32));
    } else if (op == CommOpKind::kAllReduce) {
      TESSERA_RETURN_IF_ERROR(comm.all_reduce(buf, count, ReduceOp::kSum));
    } else if (op == CommOpKind::kReduceScatter) {
      TESSERA_RETURN_IF_ERROR(comm.reduce_scatter(buf, small.data(), count, ReduceOp::kSum));
    } else {
      // The input is this rank's block of the output (in place, as ZeRO-3 gathers parameters).
      TESSERA_RETURN_IF_ERROR(comm.all_gather(buf + comm.rank() * count, buf, count));
    }
    if (i > 0) times.push_back(now_s() - t0);
  }
  TESSERA_ASSIGN_OR_RETURN(Timing t, slowest(world, times));
  row->seconds = t.median;
  row->best_seconds = t.best;
  row->bytes = bytes;
  return Status();
}

Status bench_comm(const BenchCommArgs& args, CommandResult& result) {
  if (!result.world || result.world->size() < 2) {
    return failed_precondition_error("needs at least 2 ranks, got {}; hint: OMPI_ALLOW_RUN_AS_ROOT=1 "
                                     "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -n 2 tessera bench comm",
                                     result.world ? result.world->size() : 1);
  }
  if (args.min_bytes < 4 || args.max_bytes < args.min_bytes) {
    return invalid_argument_error("--min-bytes {} and --max-bytes {}: expected 4 ≤ min ≤ max", args.min_bytes, args.max_bytes);
  }
  Communicator& world = *result.world;
  const int p = world.size();
  std::vector<std::pair<std::string, CommOpKind>> ops;
  for (const std::string& name : split_list(args.ops)) {
    if (name == "all_reduce") ops.emplace_back(name, CommOpKind::kAllReduce);
    else if (name == "reduce_scatter") ops.emplace_back(name, CommOpKind::kReduceScatter);
    else if (name == "all_gather") ops.emplace_back(name, CommOpKind::kAllGather);
    else return invalid_argument_error("--ops: '{}' is not one of all_reduce, reduce_scatter, all_gather", name);
  }
  // One communicator per backend, all over the same ranks.
  std::vector<std::pair<std::string, std::unique_ptr<Communicator>>> comms;
  for (const std::string& name : split_list(args.backends)) {
    if (name != "shm" && name != "shm-staged" && name != "mpi" && name != "mpi-plain") {
      return invalid_argument_error("--backends: '{}' is not one of shm, shm-staged, mpi, mpi-plain", name);
    }
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> group, world.split(0, world.rank(), "bench"));
    const CommBackend backend = name.rfind("shm", 0) == 0 ? CommBackend::kShm : CommBackend::kMpi;
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, make_axis_communicator(std::move(group), backend));
    comms.emplace_back(name, std::move(comm));
  }
  const int64_t pool_bytes = args.pool_mib << 20;
  TESSERA_ASSIGN_OR_RETURN(const Timing copy, copy_bandwidth(world, std::max<int64_t>(pool_bytes, 96 << 20), 16 << 20));
  const double copy_bw = copy.median, copy_bw_best = copy.best;

  std::vector<Row> rows;
  for (auto& [backend, comm] : comms) {
    TESSERA_ASSIGN_OR_RETURN(Pool pool, make_pool(*comm, backend == "shm", std::max(pool_bytes, 2 * args.max_bytes)));
    for (const auto& [op_name, op] : ops) {
      for (int64_t bytes = args.min_bytes; bytes <= args.max_bytes; bytes *= 4) {
        Row row{.op = op_name, .backend = backend};
        TESSERA_RETURN_IF_ERROR(run_one(world, *comm, backend, op, bytes, pool, &row).with_context(
            fmt::format("{} {} {} bytes", op_name, backend, bytes)));
        if (row.seconds > 0) rows.push_back(row);
      }
    }
  }
  // Side by side: per op and size, the backends in the order given.
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    auto op_index = [&](const std::string& name) {
      for (size_t i = 0; i < ops.size(); ++i) {
        if (ops[i].first == name) return i;
      }
      return ops.size();
    };
    return std::make_pair(op_index(a.op), a.bytes) < std::make_pair(op_index(b.op), b.bytes);
  });
  if (world.rank() != 0) return Status();

  auto baseline = [&](const Row& r) -> double {
    for (const Row& b : rows) {
      if (b.op == r.op && b.bytes == r.bytes && b.backend == "mpi-plain") return b.seconds;
    }
    return 0;
  };
  nlohmann::json out = {{"ranks", p}, {"copy_bandwidth_gbs", copy_bw / 1e9}, {"copy_bandwidth_best_gbs", copy_bw_best / 1e9},
                        {"pool_mib", args.pool_mib}, {"rows", nlohmann::json::array()}};
  if (!args.json) {
    std::printf("tessera bench comm: %d ranks, copy bandwidth (all ranks at once) %.2f GB/s median, %.2f GB/s best\n", p,
                copy_bw / 1e9, copy_bw_best / 1e9);
    std::printf("%-15s %-11s %10s %11s %11s %10s %10s %8s %8s %9s\n", "op", "backend", "bytes", "time_us", "best_us",
                "algbw_GBs", "busbw_GBs", "mem_eff", "eff_best", "vs_plain");
  }
  for (const Row& r : rows) {
    const double algbw = static_cast<double>(r.bytes) / r.seconds;
    const double bus = r.op == "all_reduce" ? algbw * 2.0 * (p - 1) / p : algbw * (p - 1) / p;
    const double eff = r.op == "all_reduce" ? 2.0 * p * static_cast<double>(r.bytes) / r.seconds / copy_bw : 0.0;
    const double eff_best = r.op == "all_reduce" ? 2.0 * p * static_cast<double>(r.bytes) / r.best_seconds / copy_bw_best : 0.0;
    const double base = baseline(r);
    const double speedup = base > 0 ? base / r.seconds : 0.0;
    out["rows"].push_back({{"op", r.op}, {"backend", r.backend}, {"bytes", r.bytes}, {"seconds", r.seconds},
                           {"best_seconds", r.best_seconds}, {"algbw_gbs", algbw / 1e9}, {"busbw_gbs", bus / 1e9},
                           {"memory_efficiency", eff}, {"memory_efficiency_best", eff_best},
                           {"speedup_vs_mpi_plain", speedup}});
    if (!args.json) {
      const std::string eff_text = eff > 0 ? fmt::format("{:.0f}%", 100 * eff) : "-";
      const std::string best_text = eff_best > 0 ? fmt::format("{:.0f}%", 100 * eff_best) : "-";
      std::printf("%-15s %-11s %10ld %11.1f %11.1f %10.2f %10.2f %8s %8s %8.2fx\n", r.op.c_str(), r.backend.c_str(),
                  long(r.bytes), r.seconds * 1e6, r.best_seconds * 1e6, algbw / 1e9, bus / 1e9, eff_text.c_str(),
                  best_text.c_str(), speedup);
    }
  }
  if (args.json) std::printf("%s\n", out.dump(1).c_str());
  return Status();
}

}  // namespace

void register_bench_comm_command(CLI::App& bench, CommandResult& result) {
  auto args = std::make_shared<BenchCommArgs>();
  CLI::App* cmd = bench.add_subcommand("comm", "collective bandwidth of the shm and mpi backends (run under mpirun)");
  cmd->add_option("--min-bytes", args->min_bytes, "smallest bucket in bytes (sizes go up ×4)")->check(integer_in(1, int64_t{1} << 36));
  cmd->add_option("--max-bytes", args->max_bytes, "largest bucket in bytes")->check(integer_in(1, int64_t{1} << 36));
  cmd->add_option("--ops", args->ops, "comma-separated: all_reduce,reduce_scatter,all_gather");
  cmd->add_option("--backends", args->backends, "comma-separated: shm,shm-staged,mpi,mpi-plain");
  cmd->add_option("--pool-mib", args->pool_mib, "MiB of buffers per rank cycled through (> last-level cache)")->check(integer_in(1, 1 << 20));
  cmd->add_flag("--json", args->json, "print one JSON object");
  cmd->callback([args, &result] {
    const Status status = bench_comm(*args, result);
    result.exit_code = status.ok() ? 0 : report_error("bench comm", status.message());
  });
}

}  // namespace tessera::tools

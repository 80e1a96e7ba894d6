// tessera: the one binary. Parses the command line and runs one subcommand (tools/cmd_*.cc).
// Under an MPI launcher (mpirun, srun) it initialises MPI first; an error on any rank then ends the whole
// job, so that no rank waits forever in a collective for a peer that is gone.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

#include "commands.h"
#include "tessera/comm/comm_stall.h"
#include "tessera/comm/mpi_communicator.h"
#include "tessera/comm/mpi_network_scope.h"
#include "tessera/core/log.h"

namespace tessera::tools {

namespace {
// This process's rank as its launcher numbered it (Open MPI, PMIx, Slurm), -1 when not launched.
int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(var)) return std::atoi(value);
  }
  return -1;
}
}  // namespace

int report_error(const std::string& command, const std::string& message) {
  // Library messages often start with their module's name; "tessera train: train: ..." says it twice.
  std::string_view text = message;
  const std::string prefix = command + ": ";
  if (text.substr(0, prefix.size()) == prefix) text.remove_prefix(prefix.size());
  // Under a launcher every failing rank would print, and a bad config or data directory fails on all of
  // them alike. Rank 0 prints at once; the others wait first: if rank 0 failed too, it has ended the job
  // (MPI_Abort) by then and its line is the only one; if only this rank failed, its line still comes, with
  // its rank.
  const int rank = launcher_rank();
  std::string where;
  if (rank > 0) {
    constexpr auto kPeerErrorGrace = std::chrono::seconds(2);
    std::this_thread::sleep_for(kPeerErrorGrace);
    where = fmt::format(" (rank {})", rank);
  }
  std::fprintf(stderr, "tessera%s%s%s: %.*s\n", command.empty() ? "" : " ", command.c_str(), where.c_str(),
               static_cast<int>(text.size()), text.data());
  return 1;
}

// "ckpt export": the subcommands the parser had entered, for messages ("" before the first one).
std::string parsed_command(const CLI::App& app) {
  std::string path;
  const CLI::App* current = &app;
  while (true) {
    const auto subcommands = current->get_subcommands();
    if (subcommands.empty()) return path;
    current = subcommands.front();
    path += (path.empty() ? "" : " ") + current->get_name();
  }
}

StatusOr<ProcessGrid> make_process_grid(CommandResult& result, const ParallelPlan& plan, const std::string& run_dir) {
  if (!result.world) return ProcessGrid::single_process();
  const int world_size = result.world->size();
  if (plan.world_size() != world_size) {
    return invalid_argument_error("parallel: dp({})*tp({})*pp({})*cp({})={} != the {} ranks of this job; hint: set "
                                  "--set parallel.dp={}",
                                  plan.dp, plan.tp, plan.pp, plan.cp, plan.world_size(), world_size,
                                  world_size / std::max<int64_t>(1, plan.tp * plan.pp * plan.cp));
  }
  TESSERA_ASSIGN_OR_RETURN(const CommBackend dp_backend, parse_comm_backend(plan.comm_backend));
  // The world again, now with the job's options (main() made the first one before any config was read);
  // the axis groups split from it inherit them under their own names.
  const CommOptions options{
      .name = "world",
      .deadline = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(plan.comm_timeout_s * 1000))),
      .flight_recorder_dir = run_dir,
      .stall_notices = std::make_shared<CommStallNotices>(),  // the trainer forwards them into its heartbeat
  };
  std::unique_ptr<Communicator> world = std::move(result.world);
  if (result.mpi != nullptr) world = result.mpi->world(options);
  TESSERA_ASSIGN_OR_RETURN(ProcessGrid grid,
                           ProcessGrid::create(std::move(world), static_cast<int>(plan.dp), static_cast<int>(plan.pp),
                                               static_cast<int>(plan.tp), GridBackends{.dp = dp_backend}));
  if (grid.rank() == 0 && world_size > 1) {
    log_info("comm: dp axis of {} ranks on {} (parallel.comm_backend = {}), deadline {} s{}", plan.dp,
             grid.group(GridAxis::kDp).backend_name(), plan.comm_backend, plan.comm_timeout_s,
             run_dir.empty() ? "" : fmt::format(", flight recorder dumps in {}", run_dir));
    if (plan.pp > 1) {
      log_info("comm: pp axis of {} ranks on {} (activations and their gradients, send/recv)", plan.pp,
               grid.group(GridAxis::kPp).backend_name());
    }
  }
  return grid;
}
}  // namespace tessera::tools

int main(int argc, char** argv) {
  using namespace tessera;
  using namespace tessera::tools;
  // First, before any thread exists: every thread inherits the blocked SIGTERM/SIGINT (signal_watcher.h).
  SignalWatcher signals;
  std::optional<MpiRuntime> mpi;
  CommandResult result;
  result.signals = &signals;
  if (launched_by_mpi()) {
    scope_mpi_network();  // before MPI_Init: a one-host job listens on no network interface
    auto runtime = MpiRuntime::init(&argc, &argv);
    if (!runtime.ok()) return report_error("", runtime.status().message());
    mpi.emplace(std::move(*runtime));
    result.world = mpi->world();
    result.mpi = &*mpi;
  }
  const bool multi_rank = result.world && result.world->size() > 1;

  CLI::App app{"tessera: train GPT-style models across processes and machines, and plan them at scale"};
  app.require_subcommand(1);
  register_data_command(app, result);
  register_train_command(app, result);
  register_generate_command(app, result);
  register_bench_command(app, result);
  register_ckpt_command(app, result);
  register_plan_command(app, result);
  register_report_command(app, result);
  register_serve_command(app, result);
  register_launch_command(app, result);
  try {
    app.parse(argc, argv);
  } catch (const std::bad_alloc&) {
    // Sizes are checked before large allocations; this is the backstop for what slips through.
    const int code = report_error("", "out of memory; hint: a smaller model, micro-batch or dataset");
    if (multi_rank) MpiRuntime::abort_job(code);
    return code;
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help, printed by CLI11
    // A bad command line: one line in the same form as every other error, exit 2.
    const std::string command = parsed_command(app);
    report_error(command, fmt::format("{}; hint: tessera {}{}--help", error.what(), command, command.empty() ? "" : " "));
    if (multi_rank) MpiRuntime::abort_job(2);
    return 2;
  }
  // A preempted job stopped on every rank together after its checkpoint: it ends normally, with its code.
  if (multi_rank && result.exit_code != 0 && result.exit_code != kExitPreempted) {
    MpiRuntime::abort_job(result.exit_code);
  }
  return result.exit_code;
}

// Each tessera subcommand lives in its own tools/cmd_*.cc and registers itself on the CLI11 app.
// A subcommand's callback returns the process exit code: 0 success, 1 a reported error (one line on
// stderr), 2 bad command line, kExitPreempted (3) `train` stopped by SIGTERM/SIGINT after committing a
// checkpoint (resume with --resume). Library code never exits; only main() does.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "signal_watcher.h"
#include "tessera/comm/mpi_communicator.h"
#include "tessera/comm/process_grid.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera::tools {

inline constexpr int kExitPreempted = 3;

// What main() hands a subcommand and gets back from it.
struct CommandResult {
  int exit_code = 0;  // set by the subcommand's callback
  // Under mpirun/srun, main() initialises MPI and puts the world communicator here; a command that runs
  // on every rank (train, bench train) takes it. Null when not launched by MPI (then: one rank).
  std::unique_ptr<Communicator> world;
  // The MPI runtime behind `world` (owned by main()), null when not launched by MPI: make_process_grid
  // makes the world of a training job from it again, with the job's deadline and dump directory.
  const MpiRuntime* mpi = nullptr;
  // SIGTERM/SIGINT, watched by one thread for the whole process (signal_watcher.h); never null.
  SignalWatcher* signals = nullptr;
};

// The process grid for `plan` over the world of `result` (or one process): every command that trains
// goes through here so that a layout error is the same message everywhere. The world gets the plan's
// deadline (parallel.comm_timeout_s) and `run_dir` as the flight recorder's dump directory (empty: no
// dumps); the dp axis gets the backend parallel.comm_backend names (comm_factory.h). Consumes
// result.world. Collective over the job's ranks.
StatusOr<ProcessGrid> make_process_grid(CommandResult& result, const ParallelPlan& plan,
                                        const std::string& run_dir = {});

void register_data_command(CLI::App& app, CommandResult& result);
void register_train_command(CLI::App& app, CommandResult& result);
void register_generate_command(CLI::App& app, CommandResult& result);
void register_bench_command(CLI::App& app, CommandResult& result);
void register_ckpt_command(CLI::App& app, CommandResult& result);
void register_plan_command(CLI::App& app, CommandResult& result);
void register_report_command(CLI::App& app, CommandResult& result);
void register_serve_command(CLI::App& app, CommandResult& result);
void register_launch_command(CLI::App& app, CommandResult& result);

// `tessera launch` (cmd_launch.cc): what to start, and the mpirun command line for it.
struct LaunchRequest {
  int ranks = 0;                        // -n
  std::string hosts;                    // --hosts "H1:n1,H2:n2"; empty: every rank on this host
  std::string config;                   // CONFIG.toml, passed to `tessera train`
  std::vector<std::string> train_args;  // the rest of the command line, passed to `tessera train` as is
  std::string mpirun;                   // the mpirun executable
  std::string tessera;                  // this executable (each rank runs it)
  std::string interfaces;               // TESSERA_MPI_INTERFACES (several hosts), may be empty
  bool as_root = false;                 // this process runs as root
  int cores = 1;                        // physical cores of this host (Open MPI's slots)
};
// The mpirun argv for `request` (argv[0] = request.mpirun); bad -n or --hosts: one line naming it.
StatusOr<std::vector<std::string>> build_launch_argv(const LaunchRequest& request);
// The run directory the launched `tessera train` uses: its --out, else runs/<config stem>.
std::string launch_run_dir(const LaunchRequest& request);
// Runs `argv`, forwarding the first SIGTERM/SIGINT this process receives to its local descendants that run
// `rank_executable` (the ranks), and returns the exit code (128 + signal when killed).
StatusOr<int> run_launched(const std::vector<std::string>& argv, const std::string& rank_executable,
                           SignalWatcher& signals);

// Prints "tessera <command>: <message>" on stderr and returns 1: how every command reports a Status.
int report_error(const std::string& command, const std::string& message);

}  // namespace tessera::tools

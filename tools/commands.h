// Each tessera subcommand lives in its own tools/cmd_*.cc and registers itself on the CLI11 app.
// A subcommand's callback returns the process exit code: 0 success, 1 a reported error (one line on
// stderr), 2 bad command line, kExitPreempted (3) `train` stopped by SIGTERM/SIGINT after committing a
// checkpoint (resume with --resume). Library code never exits; only main() does.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "signal_watcher.h"
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
  // SIGTERM/SIGINT, watched by one thread for the whole process (signal_watcher.h); never null.
  SignalWatcher* signals = nullptr;
};

// The process grid for `plan` over the world of `result` (or one process): every command that trains
// goes through here so that a layout error is the same message everywhere.
StatusOr<ProcessGrid> make_process_grid(CommandResult& result, const ParallelPlan& plan);

void register_data_command(CLI::App& app, CommandResult& result);
void register_train_command(CLI::App& app, CommandResult& result);
void register_generate_command(CLI::App& app, CommandResult& result);
void register_bench_command(CLI::App& app, CommandResult& result);
void register_ckpt_command(CLI::App& app, CommandResult& result);
void register_plan_command(CLI::App& app, CommandResult& result);
void register_report_command(CLI::App& app, CommandResult& result);

// Prints "tessera <command>: <message>" on stderr and returns 1: how every command reports a Status.
int report_error(const std::string& command, const std::string& message);

}  // namespace tessera::tools

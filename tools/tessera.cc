// tessera: the one binary. Parses the command line and runs one subcommand (tools/cmd_*.cc).
// Under an MPI launcher (mpirun, srun) it initialises MPI first; an error on any rank then ends the whole
// job, so that no rank waits forever in a collective for a peer that is gone.
#include <cstdio>
#include <optional>

#include "commands.h"
#include "tessera/comm/mpi_communicator.h"

namespace tessera::tools {
int report_error(const std::string& command, const std::string& message) {
  // Library messages often start with their module's name; "tessera train: train: ..." says it twice.
  std::string_view text = message;
  const std::string prefix = command + ": ";
  if (text.substr(0, prefix.size()) == prefix) text.remove_prefix(prefix.size());
  std::fprintf(stderr, "tessera %s: %.*s\n", command.c_str(), static_cast<int>(text.size()), text.data());
  return 1;
}

StatusOr<ProcessGrid> make_process_grid(CommandResult& result, const ParallelPlan& plan) {
  if (!result.world) return ProcessGrid::single_process();
  const int world = result.world->size();
  if (plan.world_size() != world) {
    return invalid_argument_error("parallel: dp({})*tp({})*pp({})*cp({})={} != the {} ranks of this job; hint: set "
                                  "--set parallel.dp={}",
                                  plan.dp, plan.tp, plan.pp, plan.cp, plan.world_size(), world,
                                  world / std::max<int64_t>(1, plan.tp * plan.pp * plan.cp));
  }
  return ProcessGrid::create(std::move(result.world), static_cast<int>(plan.dp), static_cast<int>(plan.pp),
                             static_cast<int>(plan.tp));
}
}  // namespace tessera::tools

int main(int argc, char** argv) {
  using namespace tessera;
  using namespace tessera::tools;
  std::optional<MpiRuntime> mpi;
  CommandResult result;
  if (launched_by_mpi()) {
    auto runtime = MpiRuntime::init(&argc, &argv);
    if (!runtime.ok()) return report_error("", runtime.status().message());
    mpi.emplace(std::move(*runtime));
    result.world = mpi->world();
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
  try {
    app.parse(argc, argv);
  } catch (const std::bad_alloc&) {
    // Sizes are checked before large allocations; this is the backstop for what slips through.
    const int code = report_error("", "out of memory; hint: a smaller model, micro-batch or dataset");
    if (multi_rank) MpiRuntime::abort_job(code);
    return code;
  } catch (const CLI::ParseError& error) {
    // CLI11 prints the message (or --help); a bad command line exits with 2, whatever CLI11's own code.
    const int code = app.exit(error) == 0 ? 0 : 2;
    if (multi_rank && code != 0) MpiRuntime::abort_job(code);
    return code;
  }
  if (multi_rank && result.exit_code != 0) MpiRuntime::abort_job(result.exit_code);
  return result.exit_code;
}

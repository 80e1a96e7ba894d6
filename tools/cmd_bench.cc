// tessera bench: not yet built (placeholder until its module lands).
#include "commands.h"

namespace tessera::tools {
void register_bench_command(CLI::App& app, CommandResult& result) {
  app.add_subcommand("bench", "(not yet built)")->callback([&result] { result.exit_code = report_error("bench", "not yet built"); });
}
}  // namespace tessera::tools

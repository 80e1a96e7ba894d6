// tessera plan: not yet built (placeholder until its module lands).
#include "commands.h"

namespace tessera::tools {
void register_plan_command(CLI::App& app, CommandResult& result) {
  app.add_subcommand("plan", "(not yet built)")->callback([&result] { result.exit_code = report_error("plan", "not yet built"); });
}
}  // namespace tessera::tools

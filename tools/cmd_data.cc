// tessera data: not yet built (placeholder until its module lands).
#include "commands.h"

namespace tessera::tools {
void register_data_command(CLI::App& app, CommandResult& result) {
  app.add_subcommand("data", "(not yet built)")->callback([&result] { result.exit_code = report_error("data", "not yet built"); });
}
}  // namespace tessera::tools

// tessera generate: not yet built (placeholder until its module lands).
#include "commands.h"

namespace tessera::tools {
void register_generate_command(CLI::App& app, CommandResult& result) {
  app.add_subcommand("generate", "(not yet built)")->callback([&result] { result.exit_code = report_error("generate", "not yet built"); });
}
}  // namespace tessera::tools

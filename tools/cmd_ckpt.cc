// tessera ckpt: not yet built (placeholder until its module lands).
#include "commands.h"

namespace tessera::tools {
void register_ckpt_command(CLI::App& app, CommandResult& result) {
  app.add_subcommand("ckpt", "(not yet built)")->callback([&result] { result.exit_code = report_error("ckpt", "not yet built"); });
}
}  // namespace tessera::tools

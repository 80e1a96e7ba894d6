// tessera train: not yet built (placeholder until its module lands).
#include "commands.h"

namespace tessera::tools {
void register_train_command(CLI::App& app, CommandResult& result) {
  app.add_subcommand("train", "(not yet built)")->callback([&result] { result.exit_code = report_error("train", "not yet built"); });
}
}  // namespace tessera::tools

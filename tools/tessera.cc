// tessera: the one binary. Parses the command line and runs one subcommand (tools/cmd_*.cc).
#include <cstdio>

#include "commands.h"

namespace tessera::tools {
int report_error(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "tessera %s: %s\n", command.c_str(), message.c_str());
  return 1;
}
}  // namespace tessera::tools

int main(int argc, char** argv) {
  using namespace tessera::tools;
  CLI::App app{"tessera: train GPT-style models across processes and machines, and plan them at scale"};
  app.require_subcommand(1);
  CommandResult result;
  register_data_command(app, result);
  register_train_command(app, result);
  register_generate_command(app, result);
  register_bench_command(app, result);
  register_ckpt_command(app, result);
  register_plan_command(app, result);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  return result.exit_code;
}

// Each tessera subcommand lives in its own tools/cmd_*.cc and registers itself on the CLI11 app.
// A subcommand's callback returns the process exit code: 0 success, 1 a reported error (one line on
// stderr), 2 bad command line. Library code never exits; only main() does.
#pragma once

#include <CLI/CLI.hpp>

namespace tessera::tools {

// The exit code of the subcommand that ran; set by its callback.
struct CommandResult {
  int exit_code = 0;
};

void register_data_command(CLI::App& app, CommandResult& result);
void register_train_command(CLI::App& app, CommandResult& result);
void register_generate_command(CLI::App& app, CommandResult& result);
void register_bench_command(CLI::App& app, CommandResult& result);
void register_ckpt_command(CLI::App& app, CommandResult& result);
void register_plan_command(CLI::App& app, CommandResult& result);

// Prints "tessera <command>: <message>" on stderr and returns 1: how every command reports a Status.
int report_error(const std::string& command, const std::string& message);

}  // namespace tessera::tools

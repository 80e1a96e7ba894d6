// tessera train CONFIG.toml [--data DIR] [--set key=value]... [--out DIR] [--steps N] [--resume]
//
// SIGTERM or SIGINT (a scheduler's preemption, Ctrl-C): the trainer finishes its step, commits a checkpoint
// and the command exits with kExitPreempted; a second signal ends the process at once (signal_watcher.h).
#include <signal.h>

#include <filesystem>

#include "cli_checks.h"
#include "commands.h"
#include "tessera/core/log.h"
#include "tessera/train/trainer.h"

namespace tessera::tools {

namespace {

struct TrainArgs {
  std::string config;
  std::string data;
  std::vector<std::string> overrides;
  std::string out;
  int64_t steps = 0;
  int64_t stop_at_step = 0;
  std::string trace;
  bool resume = false;
  bool quiet = false;
};

int run_train(const TrainArgs& args, CommandResult& result) {
  std::vector<std::string> overrides = args.overrides;
  if (!args.data.empty()) {
    // Absolute, so that `tessera generate` finds the tokenizer from any working directory; quoted as a TOML
    // basic string so that backslashes and quotes in the path stay themselves.
    std::string quoted;
    for (const char ch : std::filesystem::absolute(args.data).lexically_normal().string()) {
      if (ch == '\\' || ch == '"') quoted += '\\';
      quoted += ch;
    }
    overrides.push_back("data.dir=\"" + quoted + "\"");
  }
  if (args.steps > 0) overrides.push_back("train.steps=" + std::to_string(args.steps));
  result.signals->enable_graceful_stop();  // from here on a signal means "save and stop", not "die"
  auto config = load_train_config(args.config, overrides);
  if (!config.ok()) return report_error("train", config.status().message());
  const std::string run_dir =
      args.out.empty() ? "runs/" + std::filesystem::path(args.config).stem().string() : args.out;
  auto grid = make_process_grid(result, config->parallel, run_dir);
  if (!grid.ok()) return report_error("train", grid.status().message());
  const bool rank0 = grid->rank() == 0;
  auto trainer = Trainer::create(std::move(*config),
                                 {.run_dir = run_dir, .resume = args.resume, .show_progress = !args.quiet,
                                  .stop_at_step = args.stop_at_step, .stop_signal = &result.signals->stop_signal(),
                                  .trace_path = args.trace},
                                 std::move(*grid));
  if (!trainer.ok()) return report_error("train", trainer.status().message());
  const TrainConfig& c = (*trainer)->config();
  if (rank0) log_info("train: {} params (L={} NH={} C={} T={} V={}), batch {}x{} tokens, {} steps, backend {} ({}), "
           "run dir {}; MFU peak {:.1f} GFLOP/s ({})",
           c.model.num_params(), c.model.n_layer, c.model.n_head, c.model.n_embd, c.model.seq_len,
           c.model.vocab_size, c.parallel.resolved_global_batch(), c.model.seq_len, c.steps, c.backend,
           precision_name(c.parallel.precision), run_dir, (*trainer)->mfu_peak().gflops, (*trainer)->mfu_peak().source);
  const Status status = (*trainer)->run();
  if (!status.ok()) return report_error("train", status.message());
  if (const int signal = (*trainer)->stop_signal(); signal != 0) {
    if (rank0) {
      log_info("train: stopped by {} after step {} with a committed checkpoint in {}/checkpoints; continue with "
               "--resume",
               signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "signal " + std::to_string(signal),
               (*trainer)->current_step(), run_dir);
    }
    return kExitPreempted;
  }
  if (rank0) log_info("train: done at step {}; checkpoints in {}/checkpoints", (*trainer)->current_step(), run_dir);
  return 0;
}

}  // namespace

void register_train_command(CLI::App& app, CommandResult& result) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "train a GPT model from a TOML config");
  cmd->add_option("config", args->config, "config file (e.g. configs/tiny.toml)")->required();
  cmd->add_option("--data", args->data, "directory made by `tessera data prepare` (sets data.dir)");
  cmd->add_option("--set", args->overrides, "override a config key, e.g. --set train.lr=1e-3 (repeatable)");
  cmd->add_option("--out", args->out, "run directory (default runs/<config name>)");
  cmd->add_option("--steps", args->steps, "total optimizer steps (sets train.steps)")->check(positive_integer());
  cmd->add_option("--stop-at-step", args->stop_at_step,
                  "stop with a checkpoint at this step; the LR schedule still spans --steps (resume later)")
      ->check(positive_integer());
  cmd->add_option("--trace", args->trace,
                  "write a Chrome/Perfetto trace of every step (per rank: FILE, or FILE.rankN.json with several)");
  cmd->add_flag("--resume", args->resume, "continue from the newest committed checkpoint in the run directory");
  cmd->add_flag("--quiet", args->quiet, "no progress output");
  cmd->callback([args, &result] { result.exit_code = run_train(*args, result); });
}

}  // namespace tessera::tools

// tessera serve RUN_DIR_OR_CKPT [--host 127.0.0.1] [--port 8000] [--slots 8] [--max-body-bytes N]
//               [--model-name NAME] [--precision auto|fp32|bf16] [--tokenizer MODEL] [--threads N]
//   Serves the checkpoint through an OpenAI-compatible completion endpoint (serve/completion_server.h) until
//   SIGTERM or Ctrl-C. Prints one line "tessera serve: listening on http://HOST:PORT ..." on stdout when
//   ready (with --port 0, the port the system chose).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli_checks.h"
#include "commands.h"
#include "tessera/core/log.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/serve/completion_server.h"

namespace tessera::tools {

namespace {

struct ServeArgs {
  std::string path;
  std::string tokenizer;
  std::string precision = "auto";
  std::string model_name;
  ServerOptions server;
  int64_t port = 8000;
  int64_t threads = 0;
};

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Status serve(ServeArgs& args, SignalWatcher& signals) {
  // SIGTERM/Ctrl-C only set a flag from here on; the loop below stops the server and returns.
  signals.enable_graceful_stop();
  set_kernel_threads(static_cast<int>(args.threads));
  InferencePrecision precision = InferencePrecision::kAuto;
  parse_inference_precision(args.precision, &precision);  // checked by the option's validator
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<ServedModel> model,
                           ServedModel::load(args.path, {.tokenizer = args.tokenizer, .precision = precision}));
  ServerOptions options = args.server;
  options.port = static_cast<int>(args.port);
  // The run directory's name (a step directory is RUN/checkpoints/step_N).
  options.model_name = !args.model_name.empty()
                           ? args.model_name
                           : std::filesystem::path(model->step_dir()).parent_path().parent_path().filename().string();
  if (options.model_name.empty()) options.model_name = "tessera";
  if (!is_loopback(options.host)) {
    log_warning("serve: listening on {}: other machines can reach this endpoint, which has no authentication",
                options.host);
  }
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<CompletionServer> server, CompletionServer::start(*model, options));
  std::printf("tessera serve: listening on http://%s:%d (model %s, step %lld, %lld slots, %s matmuls)\n",
              options.host.c_str(), server->port(), options.model_name.c_str(), static_cast<long long>(model->step()),
              static_cast<long long>(options.slots),
              model->matmul_precision() == MatmulPrecision::kBf16 ? "bf16" : "fp32");
  std::fflush(stdout);
  while (signals.stop_signal().load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server->stop();
  const SchedulerStats stats = server->stats();
  log_info("serve: stopped (signal {}); {} requests finished, {} tokens generated in {} rounds", signals.stop_signal().load(),
           stats.requests_finished, stats.tokens_generated, stats.rounds);
  return Status();
}

}  // namespace

void register_serve_command(CLI::App& app, CommandResult& result) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "serve a checkpoint over HTTP (OpenAI-compatible /v1/completions)");
  cmd->add_option("path", args->path, "run directory, its checkpoints/ directory, or a step directory")->required();
  cmd->add_option("--host", args->server.host, "address to listen on (default loopback: this machine only)");
  cmd->add_option("--port", args->port, "TCP port; 0 = any free port (printed)")->check(integer_in(0, 65535));
  cmd->add_option("--slots", args->server.slots, "requests decoded together (each holds a KV cache)")
      ->check(integer_in(1, 256));
  cmd->add_option("--max-body-bytes", args->server.max_body_bytes, "larger request bodies get 413")
      ->check(integer_in(1024, int64_t{1} << 30));
  cmd->add_option("--model-name", args->model_name, "the model id in responses (default: the run directory's name)");
  cmd->add_option("--precision", args->precision,
                  "matmul precision: auto (as the run was trained: parallel.precision), fp32 or bf16")
      ->check(one_of({"auto", "fp32", "bf16"}));
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer model (default: data.dir/tokenizer.model of the run)");
  cmd->add_option("--threads", args->threads, "kernel threads; 0 = all cores")->check(non_negative_integer());
  cmd->callback([args, &result] {
    const Status status = serve(*args, *result.signals);
    result.exit_code = status.ok() ? 0 : report_error("serve", status.message());
  });
}

}  // namespace tessera::tools

// tessera ckpt: read, check and convert checkpoints.
//   tessera ckpt inspect PATH                                   step, format, metadata, tensors, scalars
//   tessera ckpt verify PATH                                    every chunk checksum: exit 0 "OK: ..." or 1
//   tessera ckpt export PATH --format safetensors --out FILE [--force]
//       the "model." tensors, for other tools; never over a device, FIFO, link or directory, nor inside a
//       checkpoint, nor (without --force) over an existing file; written to a temporary name and renamed
// PATH is a step directory, or a run directory / checkpoints directory (then its newest checkpoint).
#include <cstdio>
#include <memory>

#include "commands.h"
#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/ckpt/checkpoint_inspect.h"
#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/ckpt/safetensors_export.h"

namespace tessera::tools {

namespace {

struct CkptOptions {
  std::string path;
  std::string format = "safetensors";
  std::string out;
  std::string prefix = "model.";
  bool force = false;
};

StatusOr<CheckpointReader> open_checkpoint(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(const std::string step_dir, resolve_checkpoint_path(path));
  return CheckpointReader::open(step_dir);
}

int run_inspect(const CkptOptions& options) {
  auto reader = open_checkpoint(options.path);
  if (!reader.ok()) return report_error("ckpt inspect", reader.status().message());
  std::fputs(describe_checkpoint(*reader).c_str(), stdout);
  return 0;
}

int run_verify(const CkptOptions& options) {
  auto reader = open_checkpoint(options.path);
  if (!reader.ok()) return report_error("ckpt verify", reader.status().message());
  const Status status = reader->verify_all();
  if (!status.ok()) return report_error("ckpt verify", status.message());
  std::printf("OK: %zu tensors, %llu bytes verified (%s)\n", reader->tensors().size(),
              static_cast<unsigned long long>(reader->tensor_bytes()), reader->path().c_str());
  return 0;
}

int run_export(const CkptOptions& options) {
  if (options.format != "safetensors") {
    return report_error("ckpt export", "format '" + options.format + "' is not supported; hint: --format safetensors");
  }
  auto reader = open_checkpoint(options.path);
  if (!reader.ok()) return report_error("ckpt export", reader.status().message());
  auto summary = export_safetensors(*reader, options.out, options.prefix, options.force);
  if (!summary.ok()) return report_error("ckpt export", summary.status().message());
  std::printf("wrote %s: %zu tensors, %llu bytes (step %lld)\n", options.out.c_str(), summary->tensors,
              static_cast<unsigned long long>(summary->bytes), static_cast<long long>(reader->step()));
  return 0;
}

}  // namespace

void register_ckpt_command(CLI::App& app, CommandResult& result) {
  // Shared by the callbacks, which run after parsing, when this function has long returned.
  auto options = std::make_shared<CkptOptions>();
  CLI::App* ckpt = app.add_subcommand("ckpt", "inspect, verify and export checkpoints");
  ckpt->require_subcommand(1);
  const char* path_help = "a step directory, or a run/checkpoints directory (its newest checkpoint)";

  CLI::App* inspect = ckpt->add_subcommand("inspect", "print step, metadata, tensors and scalars");
  inspect->add_option("PATH", options->path, path_help)->required();
  inspect->callback([options, &result] { result.exit_code = run_inspect(*options); });

  CLI::App* verify = ckpt->add_subcommand("verify", "check every chunk checksum");
  verify->add_option("PATH", options->path, path_help)->required();
  verify->callback([options, &result] { result.exit_code = run_verify(*options); });

  CLI::App* export_cmd = ckpt->add_subcommand("export", "write the model tensors to another format");
  export_cmd->add_option("PATH", options->path, path_help)->required();
  export_cmd->add_option("--format", options->format, "output format")->check(CLI::IsMember({"safetensors"}));
  export_cmd->add_option("--out", options->out, "output file")->required();
  export_cmd->add_option("--prefix", options->prefix, "export tensors whose name starts with this");
  export_cmd->add_flag("--force", options->force, "replace an existing output file");
  export_cmd->callback([options, &result] { result.exit_code = run_export(*options); });
}

}  // namespace tessera::tools

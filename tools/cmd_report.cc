// tessera report RUN_DIR [--out FILE]
//   One self-contained HTML page of a training run (report/run_report.h): loss and val loss, tokens/s, MFU,
//   memory, learning rate and gradient norm over the steps, with the committed checkpoints marked.
//   Default FILE: RUN_DIR/report.html (replaced on each call). Never written over a device, FIFO, link or
//   directory, nor inside a checkpoint (ckpt/export_file.h); written to a temporary name and renamed.
#include <cstdio>

#include "commands.h"
#include "tessera/ckpt/export_file.h"
#include "tessera/report/run_report.h"

namespace tessera::tools {

namespace {

struct ReportArgs {
  std::string run_dir;
  std::string out;
};

Status write_report(const ReportArgs& args) {
  TESSERA_ASSIGN_OR_RETURN(const RunHistory history, load_run_history(args.run_dir));
  const std::string out = args.out.empty() ? args.run_dir + "/report.html" : args.out;
  TESSERA_RETURN_IF_ERROR(check_export_file_target(out, /*force=*/true));
  TESSERA_ASSIGN_OR_RETURN(AtomicOutputFile file, AtomicOutputFile::create(out));
  TESSERA_RETURN_IF_ERROR(file.write(render_run_report(history)));
  TESSERA_RETURN_IF_ERROR(file.commit());
  std::printf("wrote %s: %zu steps, %zu checkpoints\n", out.c_str(), history.rows.size(),
              history.checkpoint_steps.size());
  return Status();
}

}  // namespace

void register_report_command(CLI::App& app, CommandResult& result) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand("report", "one self-contained HTML page of a training run (inline SVG charts)");
  cmd->add_option("RUN_DIR", args->run_dir, "the --out directory of tessera train")->required();
  cmd->add_option("--out", args->out, "HTML file to write (default: RUN_DIR/report.html)");
  cmd->callback([args, &result] {
    const Status status = write_report(*args);
    result.exit_code = status.ok() ? 0 : report_error("report", status.message());
  });
}

}  // namespace tessera::tools

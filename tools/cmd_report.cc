// tessera report RUN_DIR [--out FILE]
//   One self-contained HTML page of a training run (report/run_report.h): loss and val loss, tokens/s, MFU,
//   memory, learning rate and gradient norm over the steps, with the committed checkpoints and the incidents
//   marked, the incidents listed, and the goodput breakdown.
//   Default FILE: RUN_DIR/report.html (replaced on each call).
// tessera report PLAN.json [--out FILE]
//   The page of a plan (report/plan_page.h) from `tessera plan ... --json` (or `plan search --json`):
//   memory breakdown and step time breakdown. Default FILE: PLAN.html beside it. Never written over a device, FIFO, link or
//   directory, nor inside a checkpoint (ckpt/export_file.h); written to a temporary name and renamed.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "tessera/ckpt/export_file.h"
#include "tessera/core/file.h"
#include "tessera/report/plan_page.h"
#include "tessera/report/run_report.h"

namespace tessera::tools {

namespace {

struct ReportArgs {
  std::string run_dir;
  std::string out;
};

// A plan's JSON (a regular file, not a run directory) → its page.
Status write_plan_page(const ReportArgs& args) {
  TESSERA_ASSIGN_OR_RETURN(const std::string text, read_file(args.run_dir));
  const nlohmann::json plan = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (plan.is_discarded()) {
    return invalid_argument_error("'{}' is not JSON; hint: pass a run directory, or the output of tessera plan --json",
                                  args.run_dir);
  }
  TESSERA_ASSIGN_OR_RETURN(const std::string page, render_plan_page(plan, args.run_dir));
  std::string out = args.out;
  if (out.empty()) {
    const std::filesystem::path path(args.run_dir);
    out = (path.parent_path() / path.stem()).string() + ".html";
  }
  TESSERA_RETURN_IF_ERROR(check_export_file_target(out, /*force=*/true));
  TESSERA_ASSIGN_OR_RETURN(AtomicOutputFile file, AtomicOutputFile::create(out));
  TESSERA_RETURN_IF_ERROR(file.write(page));
  TESSERA_RETURN_IF_ERROR(file.commit());
  std::printf("wrote %s: plan page\n", out.c_str());
  return Status();
}

Status write_report(const ReportArgs& args) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(args.run_dir, ec)) return write_plan_page(args);
  TESSERA_ASSIGN_OR_RETURN(const RunHistory history, load_run_history(args.run_dir));
  const std::string out = args.out.empty() ? args.run_dir + "/report.html" : args.out;
  TESSERA_RETURN_IF_ERROR(check_export_file_target(out, /*force=*/true));
  TESSERA_ASSIGN_OR_RETURN(AtomicOutputFile file, AtomicOutputFile::create(out));
  TESSERA_RETURN_IF_ERROR(file.write(render_run_report(history)));
  TESSERA_RETURN_IF_ERROR(file.commit());
  std::printf("wrote %s: %zu steps, %zu checkpoints, %zu incident%s%s\n", out.c_str(), history.rows.size(),
              history.checkpoint_steps.size(), history.incidents.size(), history.incidents.size() == 1 ? "" : "s",
              history.goodput ? ", goodput" : "");
  return Status();
}

}  // namespace

void register_report_command(CLI::App& app, CommandResult& result) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "report", "one self-contained HTML page of a training run, or of a plan (tessera plan --json), with inline SVG");
  cmd->add_option("RUN_DIR", args->run_dir, "the --out directory of tessera train, or a tessera plan --json file")
      ->required();
  cmd->add_option("--out", args->out, "HTML file to write (default: RUN_DIR/report.html; PLAN.html for a plan)");
  cmd->callback([args, &result] {
    const Status status = write_report(*args);
    result.exit_code = status.ok() ? 0 : report_error("report", status.message());
  });
}

}  // namespace tessera::tools

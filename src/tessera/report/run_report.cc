#include "tessera/report/run_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include <ctime>

#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/core/file.h"
#include "tessera/report/svg_chart.h"

namespace tessera {

namespace {

// The x (step) and y values of field `key` over the rows that have it, y scaled by `scale`.
ChartSeries series_of(const RunHistory& h, const std::string& key, const std::string& name, const std::string& color,
                      double scale = 1.0) {
  ChartSeries s{.name = name, .color = color};
  for (const RunMetricsRow& row : h.rows) {
    const auto it = row.values.find(key);
    if (it == row.values.end()) continue;
    s.x.push_back(static_cast<double>(row.step));
    s.y.push_back(it->second * scale);
  }
  return s;
}

constexpr const char* kIncidentColor = "#e6550d";

// Committed checkpoints (green) and incidents that name a step (orange), as dashed lines on every chart.
std::vector<ChartMarker> step_markers(const RunHistory& h) {
  std::vector<ChartMarker> markers;
  for (const int64_t step : h.checkpoint_steps) {
    markers.push_back({.x = static_cast<double>(step), .label = fmt::format("checkpoint step {}", step), .color = "#2ca02c"});
  }
  for (const Incident& incident : h.incidents) {
    if (incident.step < 0) continue;
    markers.push_back({.x = static_cast<double>(incident.step),
                       .label = incident.rank >= 0 ? fmt::format("{} rank {} step {}", incident.kind, incident.rank, incident.step)
                                                   : fmt::format("{} step {}", incident.kind, incident.step),
                       .color = kIncidentColor});
  }
  return markers;
}

std::string utc_time(double unix_s) {
  const auto seconds = static_cast<std::time_t>(unix_s);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                     utc.tm_hour, utc.tm_min, utc.tm_sec);
}

// The incidents as an HTML table (detail abbreviated to 160 characters), or a line saying there were none.
std::string incident_table(const RunHistory& h) {
  if (h.incidents.empty()) return "<p class=\"note\">No incidents recorded (incidents.jsonl).</p>\n";
  std::string rows;
  for (const Incident& i : h.incidents) {
    const std::string detail = i.detail.size() > 160 ? i.detail.substr(0, 157) + "..." : i.detail;
    rows += fmt::format("<tr><td>{}</td><td class=\"incident\">{}</td><td>{}</td><td>{}</td><td>{:.3g} s</td><td>{:.3g} s</td><td>{}</td></tr>\n",
                        utc_time(i.time_unix_s), xml_escape(i.kind), i.rank >= 0 ? std::to_string(i.rank) : "job",
                        i.step >= 0 ? std::to_string(i.step) : "?", i.detection_s, i.time_lost_s, xml_escape(detail));
  }
  return fmt::format("<table class=\"incidents\">\n<tr><th>time (UTC)</th><th>kind</th><th>rank</th><th>step</th>"
                     "<th>detected after</th><th>time lost</th><th>detail</th></tr>\n{}</table>\n",
                     rows);
}

// Where the wall time went, one stacked bar (resilience/goodput.h's parts).
std::string goodput_chart(const GoodputSummary& g) {
  return render_bar_chart(BarChart{.title = fmt::format("Goodput: effective training time {:.1f}%", 100.0 * g.effective()),
                                   .unit = "s",
                                   .bars = {{"productive steps", "#2ca02c", g.productive_step_s},
                                            {"lost work (steps redone)", "#d62728", g.lost_work_s},
                                            {"restart", kIncidentColor, g.restart_s},
                                            {"checkpoint stall", "#9467bd", g.checkpoint_stall_s},
                                            {"other (start-up, evaluation)", "#7f7f7f", g.other_s()}},
                                   .stacked = true,
                                   .stacked_label = "wall time"});
}

// Mean and last of a field over the rows that have it; nullopt if none.
struct FieldSummary {
  double mean = 0.0, last = 0.0, min = 0.0;
  size_t count = 0;
};
std::optional<FieldSummary> summarize(const RunHistory& h, const std::string& key) {
  FieldSummary s;
  s.min = INFINITY;
  for (const RunMetricsRow& row : h.rows) {
    const auto it = row.values.find(key);
    if (it == row.values.end() || !std::isfinite(it->second)) continue;
    s.mean += it->second;
    s.last = it->second;
    s.min = std::min(s.min, it->second);
    ++s.count;
  }
  if (s.count == 0) return std::nullopt;
  s.mean /= static_cast<double>(s.count);
  return s;
}

std::vector<std::string> memory_fields(const RunHistory& h) {
  std::vector<std::string> fields;
  for (const RunMetricsRow& row : h.rows) {
    for (const auto& [key, value] : row.values) {
      // Memory columns only: "peak_rss_bytes", "rss_bytes", "<x>_memory_bytes" — not "comm_bytes" (traffic).
      const auto ends_with = [&key](std::string_view suffix) {
        return key.size() >= suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      if ((ends_with("rss_bytes") || ends_with("memory_bytes")) &&
          std::find(fields.begin(), fields.end(), key) == fields.end()) {
        fields.push_back(key);
      }
    }
  }
  return fields;
}

}  // namespace

StatusOr<RunHistory> load_run_history(const std::string& run_dir) {
  RunHistory h;
  h.run_dir = run_dir;
  const std::string metrics_path = run_dir + "/metrics.jsonl";
  if (!std::filesystem::is_regular_file(metrics_path)) {
    return not_found_error("run directory '{}' has no metrics.jsonl; hint: pass the --out directory of tessera train",
                           run_dir);
  }
  TESSERA_ASSIGN_OR_RETURN(const std::string text, read_file(metrics_path));
  std::istringstream lines(text);
  std::string line;
  for (int64_t number = 1; std::getline(lines, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!row.is_object() || !row.contains("step") || !row["step"].is_number_integer()) {
      return data_loss_error("'{}' line {}: expected a JSON object with an integer \"step\", found '{}'", metrics_path,
                             number, line.substr(0, 80));
    }
    RunMetricsRow parsed{.step = row["step"].get<int64_t>()};
    for (const auto& [key, value] : row.items()) {
      if (key != "step" && value.is_number()) parsed.values[key] = value.get<double>();
    }
    h.rows.push_back(std::move(parsed));
  }
  if (h.rows.empty()) return invalid_argument_error("'{}' records no steps yet", metrics_path);
  if (std::filesystem::is_regular_file(run_dir + "/config.toml")) {
    TESSERA_ASSIGN_OR_RETURN(h.config_text, read_file(run_dir + "/config.toml"));
  }
  for (const std::string& path : list_checkpoints(run_dir + "/checkpoints")) {
    const std::string name = std::filesystem::path(path).filename().string();  // step_<digits>
    h.checkpoint_steps.push_back(std::stoll(name.substr(5)));
  }
  TESSERA_ASSIGN_OR_RETURN(h.incidents, read_incidents(run_dir + "/" + std::string(kIncidentLogFileName)));
  TESSERA_ASSIGN_OR_RETURN(h.goodput, read_goodput(run_dir));
  return h;
}

std::string render_run_report(const RunHistory& h) {
  const std::vector<ChartMarker> markers = step_markers(h);
  const auto chart = [&](std::string title, std::string y_label, std::vector<ChartSeries> series) {
    return render_line_chart(LineChart{.title = std::move(title), .x_label = "step", .y_label = std::move(y_label),
                                       .series = std::move(series), .markers = markers});
  };
  ChartSeries val = series_of(h, "val_loss", "val loss", "#d62728");
  val.dots = true;
  std::string charts;
  charts += chart("Loss", "cross-entropy (nats)", {series_of(h, "loss", "train loss", "#1f77b4"), val});
  charts += chart("Throughput", "tokens/s", {series_of(h, "tokens_per_s", "tokens/s", "#9467bd")});
  charts += chart("MFU", "% of peak", {series_of(h, "mfu", "MFU", "#8c564b", 100.0)});
  std::vector<ChartSeries> memory;
  const char* colors[] = {"#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  const std::vector<std::string> memory_keys = memory_fields(h);
  for (size_t i = 0; i < memory_keys.size(); ++i) {
    memory.push_back(series_of(h, memory_keys[i], memory_keys[i], colors[i % 4], 1.0 / (1 << 20)));
  }
  charts += chart("Memory", "MiB", memory);
  charts += chart("Learning rate", "lr", {series_of(h, "lr", "lr", "#ff7f0e")});
  charts += chart("Gradient norm", "L2 norm, unclipped", {series_of(h, "grad_norm", "grad norm", "#17becf")});

  std::string summary;
  const auto add_row = [&](const std::string& name, const std::string& value) {
    summary += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", xml_escape(name), xml_escape(value));
  };
  add_row("run directory", h.run_dir);
  add_row("steps logged", fmt::format("{} (steps {} to {})", h.rows.size(), h.rows.front().step, h.rows.back().step));
  if (const auto loss = summarize(h, "loss")) add_row("train loss (last / lowest)", fmt::format("{:.4f} / {:.4f}", loss->last, loss->min));
  if (const auto v = summarize(h, "val_loss")) {
    add_row("val loss (last / lowest)", fmt::format("{:.4f} / {:.4f} over {} evaluations", v->last, v->min, v->count));
  }
  if (const auto t = summarize(h, "tokens_per_s")) add_row("tokens/s (mean / last)", fmt::format("{:.0f} / {:.0f}", t->mean, t->last));
  if (const auto m = summarize(h, "mfu")) add_row("MFU (mean / last)", fmt::format("{:.1f}% / {:.1f}%", 100 * m->mean, 100 * m->last));
  std::string checkpoints;
  for (const int64_t step : h.checkpoint_steps) checkpoints += (checkpoints.empty() ? "" : ", ") + std::to_string(step);
  add_row("committed checkpoints", checkpoints.empty() ? "none" : checkpoints);
  add_row("incidents", fmt::format("{}", h.incidents.size()));
  if (h.goodput) add_row("goodput", goodput_text_line(*h.goodput).substr(std::string_view("goodput: ").size()));
  const std::string memory_note =
      memory_keys.empty() ? "<p class=\"note\">This run's metrics.jsonl records no memory column (a numeric "
                            "<code>*rss_bytes</code> or <code>*memory_bytes</code> field), so the memory chart is empty.</p>\n"
                          : "";

  return fmt::format(R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tessera run report: {0}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; background: #fafafa; }}
h1 {{ font-size: 20px; }}
table {{ border-collapse: collapse; margin-bottom: 16px; }}
th, td {{ text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #ddd; }}
td.incident {{ color: #e6550d; font-weight: bold; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.charts svg {{ border: 1px solid #ddd; }}
.note {{ color: #666; }}
pre {{ background: #fff; border: 1px solid #ddd; padding: 8px; font-size: 12px; }}
</style>
</head>
<body>
<h1>Tessera run report: {0}</h1>
<table>
{1}</table>
<p class="note">Dashed green lines: committed checkpoints. Dashed orange lines: incidents. Red dots: validation loss at evaluation steps.</p>
{2}<div class="charts">
{3}</div>
<h2>Incidents and goodput</h2>
{5}{6}
<h2>config.toml</h2>
<pre>{4}</pre>
</body>
</html>
)",
                     xml_escape(h.run_dir), summary, memory_note, charts,
                     h.config_text.empty() ? "(the run directory has no config.toml)" : xml_escape(h.config_text),
                     incident_table(h),
                     h.goodput ? goodput_chart(*h.goodput)
                               : "<p class=\"note\">No goodput.json (it is written when a run ends).</p>\n");
}

}  // namespace tessera

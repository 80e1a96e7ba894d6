#include "tessera/report/plan_page.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <vector>

#include "tessera/report/svg_chart.h"

namespace tessera {

namespace {

using nlohmann::json;

struct Part {
  const char* key;
  const char* label;
  const char* color;
};

// Memory parts of memory_gib, in stacking order, and the step components of breakdown_s.
constexpr Part kMemoryParts[] = {{"weights", "weights", "#1f77b4"},     {"gradients", "gradients", "#ff7f0e"},
                                 {"optimizer", "optimizer", "#2ca02c"}, {"activations", "activations", "#d62728"},
                                 {"logits", "logits", "#9467bd"},       {"buffers", "buffers", "#8c564b"}};
constexpr Part kStepParts[] = {{"compute", "compute", "#1f77b4"},
                               {"tp_comm", "tensor-parallel comm", "#ff7f0e"},
                               {"pp_comm", "pipeline comm", "#2ca02c"},
                               {"cp_comm", "context-parallel comm", "#17becf"},
                               {"ep_comm", "expert-parallel comm", "#bcbd22"},
                               {"dp_comm_exposed", "data-parallel comm (exposed)", "#d62728"},
                               {"bubble", "pipeline bubble", "#9467bd"},
                               {"optimizer", "optimizer", "#8c564b"},
                               {"moe_host_wait", "MoE host wait", "#e377c2"},
                               {"offload_per_micro_batch", "offload (per micro-batch)", "#7f7f7f"}};

StatusOr<double> number(const json& j, const std::string& object, const std::string& key, const std::string& source) {
  const json* v = &j;
  if (!object.empty()) {
    if (!j.contains(object) || !j[object].is_object()) {
      return invalid_argument_error("{}: {}: expected an object, found {}", source, object,
                                    j.contains(object) ? j[object].type_name() : "nothing");
    }
    v = &j[object];
  }
  const std::string name = object.empty() ? key : object + "." + key;
  if (!v->contains(key) || !(*v)[key].is_number()) {
    return invalid_argument_error("{}: {}: expected a number, found {}", source, name,
                                  v->contains(key) ? (*v)[key].type_name() : "nothing");
  }
  return (*v)[key].get<double>();
}

std::string text_of(const json& j, const char* key) {
  if (!j.contains(key)) return "?";
  if (j[key].is_number_float()) return fmt::format("{:.4g}", j[key].get<double>());
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

// The step as a timeline (a Gantt chart): one row per pipeline stage with each micro-batch's forward (F),
// backward (B; ZB's I and W) from the plan's "timeline" (plan/pipeline_sim.h: pipeline_timeline_json), idle
// time showing as the grey row behind them; then, across all rows, the exposed data-parallel reduction and
// the optimizer from breakdown_s. x: seconds from the step's start to max(step_time_s, the parts' end).
StatusOr<std::string> timeline_chart(const json& timeline, double step_time, double dp_exposed, double optimizer,
                                     const std::string& source) {
  const auto bad = [&](const std::string& what, const json& found) {
    return invalid_argument_error("{}: timeline.{}: expected {}", source, what,
                                  found.is_null() ? std::string("something, found nothing") : "it, found " + found.dump().substr(0, 40));
  };
  if (!timeline.is_object()) return bad("", timeline);
  const json makespan_json = timeline.value("makespan_s", json());
  const json ranks_json = timeline.value("ranks", json());
  if (!makespan_json.is_number() || makespan_json.get<double>() < 0) return bad("makespan_s (a duration)", makespan_json);
  if (!ranks_json.is_number_integer() || ranks_json.get<int64_t>() < 1 || ranks_json.get<int64_t>() > 1024) {
    return bad("ranks (1..1024)", ranks_json);
  }
  if (!timeline.contains("ops") || !timeline["ops"].is_array()) return bad("ops (an array)", timeline.value("ops", json()));
  const double makespan = makespan_json.get<double>();
  const json bubble_json = timeline.value("bubble_fraction", json());
  const double bubble = bubble_json.is_number() ? bubble_json.get<double>() : 0.0;
  const int64_t ranks = ranks_json.get<int64_t>();
  const double end = std::max(step_time, makespan + dp_exposed + optimizer);
  const int width = 960, left = 80, right = 20, row = 20, gap = 4, top = 34;
  const double plot = width - left - right;
  const int rows_bottom = top + static_cast<int>(ranks) * (row + gap);
  const int height = rows_bottom + 62;
  const auto px = [&](double t) { return left + (end > 0 ? t / end : 0.0) * plot; };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\">"
      "<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">Step timeline (simulated pipeline schedule, "
      "bubble {:.1f}%)</text>",
      width, height, width, height, 100 * bubble);
  for (int64_t r = 0; r < ranks; ++r) {
    const int y = top + static_cast<int>(r) * (row + gap);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">stage {}</text>"
                       "<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"#e8e8e8\"/>",
                       left - 6, y + row - 6, r, left, y, px(makespan) - left, row);
  }
  size_t index = 0;
  std::set<std::string> kinds;  // the legend names only what is drawn
  for (const json& op : timeline["ops"]) {
    const std::string where = fmt::format("ops[{}]", index++);
    if (!op.is_array() || op.size() != 5 || !op[0].is_number_integer() || !op[1].is_string() ||
        !op[2].is_number_integer() || !op[3].is_number() || !op[4].is_number()) {
      return bad(where + " ([rank, kind, micro_batch, start_s, end_s])", op);
    }
    const int64_t rank = op[0].get<int64_t>();
    const std::string kind = op[1].get<std::string>();
    const double start = op[3].get<double>(), stop = op[4].get<double>();
    if (rank < 0 || rank >= ranks) return bad(where + " rank (0.." + std::to_string(ranks - 1) + ")", op[0]);
    if (!(start >= 0 && stop >= start && stop <= makespan * (1 + 1e-9) + 1e-12)) {
      return bad(where + " times (0 <= start <= end <= makespan_s)", op);
    }
    const char* color = kind == "F" ? "#1f77b4" : kind == "B" ? "#ff7f0e" : kind == "I" ? "#ffbb78" : kind == "W" ? "#2ca02c" : nullptr;
    if (color == nullptr) return bad(where + " kind (F, B, I or W)", op[1]);
    kinds.insert(kind);
    const int y = top + static_cast<int>(rank) * (row + gap);
    svg += fmt::format("<rect x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\" stroke=\"#fff\" "
                       "stroke-width=\"0.5\"><title>stage {} {}{} {:.4g}–{:.4g} s</title></rect>",
                       px(start), y, std::max(0.5, px(stop) - px(start)), row, color, rank, kind,
                       op[2].get<int64_t>(), start, stop);
  }
  // After the pipeline: the exposed dp reduction, then the optimizer, on every stage at once.
  const double parts[2][2] = {{makespan, makespan + dp_exposed}, {makespan + dp_exposed, makespan + dp_exposed + optimizer}};
  const char* part_colors[2] = {"#d62728", "#8c564b"};
  for (int i = 0; i < 2; ++i) {
    if (parts[i][1] <= parts[i][0]) continue;
    svg += fmt::format("<rect x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\"/>", px(parts[i][0]), top,
                       std::max(0.5, px(parts[i][1]) - px(parts[i][0])), rows_bottom - top - gap, part_colors[i]);
  }
  for (const double t : nice_ticks(0, end, 8)) {
    if (t < 0 || t > end) continue;
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#888\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3}\" font-size=\"11\" text-anchor=\"middle\">{4:.3g}</text>",
                       px(t), rows_bottom, rows_bottom + 4, rows_bottom + 16, t);
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">seconds into the step</text>",
                     left + plot / 2, rows_bottom + 32);
  struct LegendEntry {
    const char* kind;  // shown when an op of this kind is drawn; nullptr: always
    const char* color;
    const char* label;
  };
  const LegendEntry legend[] = {{"F", "#1f77b4", "forward"}, {"B", "#ff7f0e", "backward"},
                                {"I", "#ffbb78", "backward (input)"}, {"W", "#2ca02c", "backward (weights)"},
                                {nullptr, "#e8e8e8", "idle (bubble)"}, {nullptr, "#d62728", "data-parallel comm (exposed)"},
                                {nullptr, "#8c564b", "optimizer"}};
  int lx = 10;
  for (const auto& [kind, color, label] : legend) {
    if (kind != nullptr && kinds.count(kind) == 0) continue;
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" "
                       "font-size=\"12\">{}</text>",
                       lx, height - 16, color, lx + 16, height - 6, label);
    lx += 36 + static_cast<int>(std::string_view(label).size()) * 7;
  }
  return svg + "</svg>";
}

StatusOr<std::string> plan_section(const json& p, const std::string& source) {
  if (!p.is_object()) return invalid_argument_error("{}: expected a plan object, found {}", source, p.type_name());
  TESSERA_ASSIGN_OR_RETURN(const double step_time, number(p, "", "step_time_s", source));
  TESSERA_ASSIGN_OR_RETURN(const double capacity, number(p, "memory_gib", "capacity", source));
  TESSERA_ASSIGN_OR_RETURN(const double total, number(p, "memory_gib", "total", source));
  BarChart memory{.title = "Memory per accelerator", .unit = "GiB", .stacked = true,
                  .stacked_label = "per accelerator", .limit = capacity};
  BarChart step{.title = "Where the step time goes", .unit = "s"};
  for (const Part& part : kMemoryParts) {
    TESSERA_ASSIGN_OR_RETURN(const double v, number(p, "memory_gib", part.key, source));
    memory.bars.push_back({part.label, part.color, v});
  }
  for (const Part& part : kStepParts) {
    if (!p.contains("breakdown_s") || !p["breakdown_s"].contains(part.key)) continue;  // older plans lack some
    TESSERA_ASSIGN_OR_RETURN(const double v, number(p, "breakdown_s", part.key, source));
    if (v > 0) step.bars.push_back({part.label, part.color, v});
  }
  if (!p.contains("breakdown_s")) return invalid_argument_error("{}: breakdown_s: expected an object, found nothing", source);
  const json layout = p.value("layout", json::object());
  std::string rows;
  auto row = [&rows](const std::string& k, const std::string& v) {
    rows += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", xml_escape(k), xml_escape(v));
  };
  row("model / cluster", text_of(p, "model") + " on " + text_of(p, "cluster") + " (" + text_of(p, "accelerator") + ")");
  row("accelerators", text_of(p, "gpus"));
  row("layout", fmt::format("tp {} · pp {} · dp {} · cp {} · ep {} · ZeRO {} · {} · recompute {} · micro-batch {} × {}",
                            text_of(layout, "tp"), text_of(layout, "pp"), text_of(layout, "dp"), text_of(layout, "cp"),
                            text_of(layout, "ep"), text_of(layout, "zero_stage"), text_of(layout, "schedule"),
                            text_of(layout, "recompute"), text_of(layout, "micro_batch"), text_of(layout, "micro_batches")));
  row("step time", fmt::format("{:.4g} s (p50 {} s, p90 {} s)", step_time, text_of(p, "step_time_p50_s"),
                               text_of(p, "step_time_p90_s")));
  row("throughput", fmt::format("{} tokens/s, MFU {}%", text_of(p, "tokens_per_sec"), text_of(p, "mfu_percent")));
  row("memory per accelerator", fmt::format("{:.3g} of {:.3g} GiB ({})", total, capacity,
                                            p["memory_gib"].value("fits", false) ? "fits" : "does not fit"));
  std::string timeline = "<p>No step timeline: <code>tessera plan --json</code> of one layout carries it (up to 4096 "
                         "pipeline operations).</p>";
  if (p.contains("timeline")) {
    const json& breakdown = p["breakdown_s"];
    const auto part = [&](const char* key) {
      return breakdown.is_object() && breakdown.contains(key) && breakdown[key].is_number() ? breakdown[key].get<double>() : 0.0;
    };
    TESSERA_ASSIGN_OR_RETURN(timeline, timeline_chart(p["timeline"], step_time, part("dp_comm_exposed"),
                                                      part("optimizer"), source));
  }
  return fmt::format("<section>\n<table>\n{}</table>\n{}\n{}\n{}\n</section>\n", rows,
                     render_bar_chart(memory), render_bar_chart(step), timeline);
}

}  // namespace

StatusOr<std::string> render_plan_page(const json& plan_or_search, const std::string& source) {
  std::vector<const json*> plans;
  if (plan_or_search.is_object() && plan_or_search.contains("top") && plan_or_search["top"].is_array()) {
    for (const json& p : plan_or_search["top"]) plans.push_back(&p);
    if (plans.empty()) return invalid_argument_error("{}: top: expected at least one plan, found none", source);
  } else {
    plans.push_back(&plan_or_search);
  }
  std::string sections;
  for (size_t i = 0; i < plans.size(); ++i) {
    TESSERA_ASSIGN_OR_RETURN(std::string s, plan_section(*plans[i], plans.size() > 1 ? fmt::format("{} (top[{}])", source, i) : source));
    if (plans.size() > 1) sections += fmt::format("<h2>Plan {} of {}</h2>\n", i + 1, plans.size());
    sections += s;
  }
  return fmt::format(R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tessera plan: {}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 12px 0; }}
th, td {{ text-align: left; padding: 3px 12px 3px 0; font-size: 14px; }}
th {{ color: #555; font-weight: normal; }}
section {{ margin-bottom: 32px; }}
</style>
</head>
<body>
<h1>Tessera plan</h1>
<p>{} — predicted by <code>tessera plan</code> (docs/planner.md).</p>
{}</body>
</html>
)",
                     xml_escape(source), xml_escape(source), sections);
}

}  // namespace tessera

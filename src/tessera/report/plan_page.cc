#include "tessera/report/plan_page.h"

#include <fmt/format.h>

#include <algorithm>
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
  return fmt::format("<section>\n<table>\n{}</table>\n{}\n{}\n</section>\n", rows,
                     render_bar_chart(memory), render_bar_chart(step));
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

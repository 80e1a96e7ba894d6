// The planner's HTML page: `tessera plan ... --json > plan.json; tessera report plan.json` — one
// self-contained page (inline CSS and SVG, like run_report.h) of a predicted job: the layout and headline
// numbers, the per-accelerator memory breakdown against its capacity (a stacked bar, GiB), and where the
// step time goes (one bar per component, seconds: compute, tp/pp/cp/ep communication, the exposed part of
// the data-parallel reduction, the pipeline bubble, the optimizer, MoE host waits, offload).
//
// Input: the JSON object `tessera plan --json` prints (plan/report.h, plan_report_json), or the object of
// `tessera plan search --json`, whose "top" plans are drawn one after another.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "tessera/core/status.h"

namespace tessera {

// Fails naming the field when one the page needs is missing or not a number ("plan.json: memory_gib.total:
// expected a number, found nothing").
StatusOr<std::string> render_plan_page(const nlohmann::json& plan_or_search, const std::string& source);

}  // namespace tessera

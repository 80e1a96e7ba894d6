// Human-readable and JSON reports of a plan (`tessera plan`), and of a validation (`tessera plan validate`).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tessera/plan/power_reliability.h"
#include "tessera/plan/step_distribution.h"
#include "tessera/plan/step_model.h"
#include "tessera/plan/validate.h"

namespace tessera::plan {

struct PlanReport {
  std::string model_name;
  std::string cluster_name;
  Job job;
  AcceleratorSpec accelerator;
  ClusterSpec cluster;
  StepPrediction step;
  PowerCost power;
  Reliability reliability;
  double token_budget = 0;
  double checkpoint_write_s = 0;
  // When the job does not fit: the fewest layers per stage to offload so that it does (0 = fits already or
  // offload cannot be costed here, -1 = offload alone cannot make it fit).
  int64_t offload_layers_to_fit = 0;
  // Step time across steps (stragglers at scale) and the per-rank jitter it assumes.
  StepDistribution distribution;
  double step_jitter = 0;
  // The budget's time and cost with the expected failures (set with `power` and `reliability`).
  FailureAdjusted with_failures;
};

std::string format_plan_report(const PlanReport& r);
nlohmann::json plan_report_json(const PlanReport& r);

// One line per row ("row 12  GPT 175B ... pred 5.80 s pub 5.72 s (+1.4%) ..."), then the summary.
std::string format_validation(const std::vector<RunPrediction>& predictions, const ValidationSummary& summary);
// One JSON object per row: row, step_time_s, tflops_per_gpu, mfu_percent, tokens_per_sec, memory_gib_per_gpu
// (null when skipped, with "skipped": reason), plus the published figures and the convention.
nlohmann::json validation_row_json(const RunPrediction& p);
nlohmann::json validation_summary_json(const ValidationSummary& s);

}  // namespace tessera::plan

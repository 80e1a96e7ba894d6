// Validation against published training runs (a CSV with the columns of shared/planner/published_runs.csv).
//
// Each data row becomes a Job on a catalog accelerator: the model shape from the row's columns, completed
// from the catalog model its name matches (GQA kv heads, gated MLP, vocab); the layout and batch from the
// parallel columns (dp = gpus / (tp·pp·cp) when blank, micro-batch 1 when blank); ZeRO stage, recompute,
// GEMM format from the free-text columns. Rows that cannot be modelled are kept with a skip reason (MoE
// models, missing global batch or shape, unknown accelerator).
// FLOP conventions per source (see flops.h): Megatron SC21 (Narayanan et al.) counts recompute (kHardware);
// NeMo / Megatron-Bridge count causal model FLOPs (kModelCausal); Korthikanti, PaLM, llm-foundry and the
// Llama 3 paper count full-attention model FLOPs (kModelFull).
// The split for honest validation is by source: "fit" sources set the efficiency constants
// (fit_efficiencies), "held-out" sources never touch them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tessera/plan/catalog.h"
#include "tessera/plan/csv.h"
#include "tessera/plan/framework.h"
#include "tessera/plan/step_model.h"

namespace tessera::plan {

struct PublishedRun {
  size_t row = 0;               // 0-based data row index
  std::string source;
  std::string model_name;
  std::string skip_reason;      // non-empty: not predicted
  Job job;
  AcceleratorSpec accelerator;
  int64_t gpus = 0;
  FlopConvention convention = FlopConvention::kModelCausal;
  bool fit_half = false;        // true: the source belongs to the fit half
  // The row names its activation recompute. When it does not: torchtitan rows get torchtitan's default
  // (selective, per op); Megatron/NeMo rows that do not fit as stated get the fewest offloaded layers that
  // make them fit (RunPrediction::assumed_offload_layers, Megatron's cpu_offloading_num_layers): the run did
  // save that memory somehow, and offload costs no FLOPs.
  bool recompute_stated = false;
  // Layers whose activations the row's Megatron-Bridge recipe offloads to host memory (cpu_offloading_num_layers,
  // validate.cc recipe_offload_layers); 0 when the recipe sets none. Stated by the recipe, so not "assumed".
  int64_t recipe_offload_layers = 0;
  // Published figures; <= 0 when not given.
  double step_time_s = 0;
  double tokens_per_s = 0;
  double tflops_per_gpu = 0;
  double mfu_percent = 0;
  double peak_memory_gib = 0;   // measured peak memory per GPU from the notes ("peak memory 82.4 GiB")

  // "hopper/fp8": the efficiency constant this row exercises.
  std::string efficiency_key() const;
  // Model shape, accelerator, GPUs, layout, batch and format: equal keys are the same configuration.
  std::string config_key() const;
};

struct RunPrediction {
  PublishedRun run;
  StepPrediction step;
  double tflops_per_gpu = 0;   // in the row's convention
  double mfu_percent = 0;      // row-convention FLOPs / dense peak of the row's GEMM format (fp8 rows: fp8)
  double time_error = -1;      // |pred − pub| / pub of step time (or tokens/s); < 0: nothing to compare
  double tflops_error = -1;    // |pred − pub| / pub of TFLOP/s per GPU (or MFU); < 0: nothing to compare
  double memory_error = -1;    // (pred − measured) / measured peak memory; only where the row states a peak
  int64_t assumed_offload_layers = 0;  // > 0: layers per stage offloaded to fit (recompute not stated)
};

struct ErrorStats {
  size_t count = 0;
  double median = 0;  // fractions, 0.1 = 10%
  double p90 = 0;
};

struct ValidationSummary {
  size_t rows = 0, predicted = 0, skipped = 0;
  size_t held_out_duplicates = 0;  // held-out rows repeating a fit-half configuration (left out of held-out)
  ErrorStats time_all, tflops_all, time_fit, tflops_fit, time_held_out, tflops_held_out;
  // Mixture-of-experts rows as their own group (also counted above).
  ErrorStats time_moe, tflops_moe, time_moe_held_out, tflops_moe_held_out;
  // Dense rows of the held-out sources, less the fit duplicates (the targets, dense group).
  ErrorStats time_dense_held_out, tflops_dense_held_out;
  // Memory verdicts of the predicted rows (every one of which ran): bands of MemoryBreakdown::band().
  size_t memory_fits = 0, memory_tight = 0, memory_oom = 0;
  size_t memory_offload_assumed = 0;  // rows that fit only with assumed offload (recompute not stated)
  ErrorStats memory_error;            // |pred − measured| / measured, rows with a measured peak
  double memory_error_max = 0;
};

// Efficiency constants by efficiency_key(); they override the catalog's values. The keys kMoeHostOverheadKey and
// kMoeHostPerExpertKey override Job::moe_host_overhead_s and Job::moe_host_per_expert_s instead.
using EfficiencyTable = std::map<std::string, double>;
inline constexpr const char* kMoeHostOverheadKey = "moe/host_overhead_s";
inline constexpr const char* kMoeHostPerExpertKey = "moe/host_per_expert_s";

StatusOr<std::vector<PublishedRun>> load_published_runs(const CsvTable& table, const Catalog& catalog);

RunPrediction predict_run(const PublishedRun& run, const EfficiencyTable& overrides);
std::vector<RunPrediction> predict_runs(const std::vector<PublishedRun>& runs, const EfficiencyTable& overrides);
ValidationSummary summarize(const std::vector<RunPrediction>& predictions);
ErrorStats error_stats(std::vector<double> errors);

// Fits one constant per efficiency key on the fit-half rows (medians of measured/predicted throughput,
// iterated because exposed communication does not scale with the constant). Starts from the catalog values.
// Keys with fewer than kMinFitRows rows or kMinFitSources sources in the fit half are not fitted (the
// catalog default stays); each iteration scales a constant by the true median of measured/predicted.
inline constexpr size_t kMinFitRows = 3;
inline constexpr size_t kMinFitSources = 2;
// The per-generation GEMM constants are fitted on dense rows only; then kMoeHostOverheadKey and
// kMoeHostPerExpertKey together on the fit-half MoE rows with measured step time: measured − predicted without
// them = (overhead + per_expert · E/ep) · MoE layers on a stage · micro-batch slots of the pipeline, in relative
// terms (each row divided by its measured step), by least absolute deviations (l1_fit.h, the two-coefficient
// median; needs kMinFitRows rows from kMinFitSources publications).
double median_of(std::vector<double> values);
EfficiencyTable fit_efficiencies(const std::vector<PublishedRun>& runs, int iterations = 4);

}  // namespace tessera::plan

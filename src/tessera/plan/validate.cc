#include "tessera/plan/validate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "tessera/plan/l1_fit.h"
#include "tessera/plan/layer_mix.h"
#include "tessera/plan/recompute_modules.h"

namespace tessera::plan {

namespace {

std::string lower(const std::string& s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
bool has(const std::string& haystack_lower, const char* needle) { return haystack_lower.find(needle) != std::string::npos; }

// A leading number of a field ("8", "1.5", "430 (est)"); 0 when blank or not numeric.
double number(const std::string& text) {
  if (text.empty()) return 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  return end == text.c_str() ? 0 : v;
}
int64_t integer(const std::string& text) { return static_cast<int64_t>(std::llround(number(text))); }

// A model name with a parenthesised tag after it — a framework, version, publisher or variant ("DeepSeekV3
// (w/o MTP)", "Qwen3_30B_a3B (tokendrop)", "Llama 3 (torchtitan)") — without the tag.
std::string without_tags(const std::string& name) {
  std::string out;
  int depth = 0;
  for (char c : name) {
    if (c == '(') ++depth;
    if (depth == 0) out += c;
    if (c == ')' && depth > 0) --depth;
  }
  return out;
}

FlopConvention convention_for(const std::string& source_lower) {
  if (has(source_lower, "narayanan")) return FlopConvention::kHardware;
  if (has(source_lower, "nemo")) return FlopConvention::kModelCausal;  // NeMo and Megatron-Bridge
  // Megatron-Core's own logs (num_floating_point_operations, the causal count): the MoE model zoo's tables.
  if (has(source_lower, "megatron-core")) return FlopConvention::kModelCausal;
  return FlopConvention::kModelFull;
}

// The framework a source ran on, for its memory traits (framework.h).
// Inference table (docs/planner.md "Frameworks of the published rows"); a `framework` column overrides it.
Framework framework_for(const std::string& source_lower) {
  if (has(source_lower, "narayanan") || has(source_lower, "korthikanti")) return Framework::kMegatron;
  if (has(source_lower, "nemo")) return Framework::kNemo;  // NeMo and Megatron-Bridge performance tables
  if (has(source_lower, "torchtitan")) return Framework::kTorchtitan;
  // MegaScale (ByteDance) and other Megatron-LM based runs keep Megatron's defaults.
  if (has(source_lower, "megascale") || has(source_lower, "megatron")) return Framework::kMegatron;
  return Framework::kGeneric;  // PyTorch FSDP/DDP, DeepSpeed, llm-foundry, MaxText/Paxml (JAX: no framework traits)
}

constexpr const char* kFitSources[] = {"Narayanan", "Llama Team", "llama3_h100_202412", "NVIDIA/NeMo ",
                                       "(26.02.01 NeMo", "(25.11 NeMo", "AI-Hypercomputer/maxtext"};

bool in_fit_half(const std::string& source) {
  for (const char* fit : kFitSources) {
    if (source.find(fit) != std::string::npos) return true;
  }
  return false;
}

// The publication a fit-half row comes from (its rows from several tables count as one source).
std::string fit_source(const std::string& source) {
  for (const char* fit : kFitSources) {
    if (source.find(fit) != std::string::npos) return fit;
  }
  return source;
}

double relative_error(double predicted, double published) { return std::fabs(predicted - published) / published; }

// The NeMo container a Megatron-Bridge performance row ran in, as YY.MM ("(25.11 NeMo container)" → 25.11,
// "(26.02.01 NeMo container)" → 26.02); 0 when the source names none.
double nemo_container(const std::string& source) {
  const size_t at = source.find(" NeMo container");
  if (at == std::string::npos) return 0;
  const size_t open = source.rfind('(', at);
  return open == std::string::npos ? 0 : number(source.substr(open + 1, at - open - 1));
}

// Layers per rank whose activations a Megatron-Bridge performance recipe offloads to host memory
// (cpu_offloading_num_layers; Bridge's set_recompute_overrides turns it into Megatron-Core's cpu_offloading with
// cpu_offloading_weights = False), for a row of the release it cites; 0 where the recipe sets none or was not read.
// Only the Llama 3 70B and 3.1 405B recipes that run Megatron-FSDP (use_megatron_fsdp, tp 1 or 2, pp 1) set it:
//   25.09 (scripts/performance/configs/llama3/llama3_70b_llm_pretrain.yaml and llama31/llama31_405b_llm_pretrain.yaml
//     at a28844195, "Cherry pick perf 2509"): GB200 only — 70B bf16 20 and fp8_cs 40 layers, 405B fp8_cs/fp8_ds 95.
//     (B200's 70B fp8_cs sets recompute_num_layers: 5, full recompute of 5 layers, instead: not read here.)
//   25.11 to 26.06.01 (scripts/performance/configs/llama3/workload_base_configs.py and llama31/… at v0.2.0
//     717c62de40; configs/llama/llama3_workload_base_configs.py and llama31_workload_base_configs.py at v0.3.0
//     21b02e0cfb, v0.3.1 9c9dd84896, v0.4.0, v0.4.2, v0.5.0 and v0.5.1 5cb3444c43, the same values in each):
//     70B GB300 bf16 30, fp8_cs 20; GB200 bf16 20, fp8_cs 40; B200 fp8_cs 5; 405B GB300 bf16 40, fp8_cs 10;
//     GB200 fp8_cs 92.
// The MXFP8 and NVFP4 recipes of these models use Bridge's distributed optimizer with a pipeline, no offload.
// 26.08's perf_recipes (v0.6.0) were not read: rows of that container get none.
int64_t recipe_offload_layers(const std::string& name_l, const std::string& prec_l, GemmFormat format,
                              const std::string& gen, double container, int zero_stage) {
  if (zero_stage < 3 || container < 25.09 || container >= 26.08 || !has(name_l, "llama")) return 0;
  const bool b70 = has(name_l, "70b");
  const bool b405 = has(name_l, "405b");
  const bool bf16 = format == GemmFormat::kBf16;
  // Per-tensor current scaling (Bridge's fp8_cs; the tables' "FP8", "FP8-CS"); 25.09's delayed scaling (fp8_ds)
  // shares the 405B value. Block-scaled MXFP8 is another recipe.
  const bool fp8_cs = format == GemmFormat::kFp8 && !has(prec_l, "mxfp8") && !has(prec_l, "block");
  const bool gb200 = gen == "blackwell-gb200";
  const bool gb300 = gen == "blackwell-ultra-gb300";
  if (container < 25.11) {
    if (!gb200) return 0;
    if (b70) return bf16 ? 20 : fp8_cs ? 40 : 0;
    if (b405) return fp8_cs ? 95 : 0;
    return 0;
  }
  if (b70 && gb300) return bf16 ? 30 : fp8_cs ? 20 : 0;
  if (b70 && gb200) return bf16 ? 20 : fp8_cs ? 40 : 0;
  if (b70 && gen == "blackwell") return fp8_cs ? 5 : 0;
  if (b405 && gb300) return bf16 ? 40 : fp8_cs ? 10 : 0;
  if (b405 && gb200) return fp8_cs ? 92 : 0;
  return 0;
}

}  // namespace

std::string PublishedRun::efficiency_key() const {
  return accelerator.generation + "/" + gemm_format_name(job.gemm_format);
}

StatusOr<std::vector<PublishedRun>> load_published_runs(const CsvTable& t, const Catalog& catalog) {
  for (const char* column : {"source", "model", "layers", "hidden", "heads", "seq_len", "global_batch_seqs",
                             "gpu_type", "num_gpus", "tp", "pp"}) {
    if (t.index.find(column) == t.index.end()) {
      return invalid_argument_error("published runs: expected a column '{}' (columns of published_runs.csv)", column);
    }
  }
  std::vector<PublishedRun> runs;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    PublishedRun run;
    run.row = r;
    run.source = t.field(r, "source");
    run.model_name = t.field(r, "model");
    run.fit_half = in_fit_half(run.source);
    const std::string source_l = lower(run.source);
    run.convention = convention_for(source_l);
    run.step_time_s = number(t.field(r, "step_time_s"));
    run.tokens_per_s = number(t.field(r, "tokens_per_sec"));
    run.tflops_per_gpu = number(t.field(r, "achieved_tflops_per_gpu"));
    run.mfu_percent = number(t.field(r, "mfu_percent"));
    {
      // Measured peak memory stated in the notes: "peak memory 82.4 GiB", "memory 47.96 GiB".
      const std::string notes = lower(t.field(r, "notes"));
      const size_t at = notes.find("memory ");
      if (at != std::string::npos) {
        const std::string rest = notes.substr(at + 7);
        char* end = nullptr;
        const double v = std::strtod(rest.c_str(), &end);
        if (end != rest.c_str() && std::string(end).rfind(" gib", 0) == 0) run.peak_memory_gib = v;
      }
    }
    auto skip = [&](std::string reason) {
      run.skip_reason = std::move(reason);
      runs.push_back(run);
    };

    // Model shape: the catalog entry the name matches, overridden by the row's own columns.
    ModelSpec& m = run.job.model;
    const CatalogModel* known = catalog.match_model(run.model_name);
    if (known == nullptr) known = catalog.match_model(without_tags(run.model_name));
    if (known != nullptr) {
      m = known->spec;
      run.job.router_groups = known->router_groups;
      run.job.router_group_topk = known->router_group_topk;
    }
    // A published model whose layer kinds the planner lacks (models.toml [[unmodelled]]) is refused by that reason.
    const UnmodelledModel* unmodelled = known != nullptr ? nullptr : catalog.match_unmodelled(run.model_name);
    if (unmodelled == nullptr && known == nullptr) unmodelled = catalog.match_unmodelled(without_tags(run.model_name));
    if (unmodelled != nullptr) {
      skip("model '" + unmodelled->name + "' is not modelled: " + unmodelled->reason);
      continue;
    }
    if (known == nullptr) {
      std::string blank;
      for (const char* column : {"layers", "hidden", "heads"}) {
        if (t.field(r, column).empty()) blank += std::string(blank.empty() ? "" : ", ") + column;
      }
      if (!blank.empty()) {
        skip("model shape: column(s) " + blank + " blank and '" + run.model_name + "' is not in the catalog");
        continue;
      }
    }
    // Variant tags of the published tables: DeepSeek-V3 with or without its MTP module.
    const std::string name_l = lower(run.model_name);
    if (has(name_l, "w/o mtp") || has(name_l, "without mtp")) m.mtp_layers = 0;
    if (!t.field(r, "layers").empty()) m.n_layer = integer(t.field(r, "layers"));
    if (!t.field(r, "hidden").empty()) m.n_embd = integer(t.field(r, "hidden"));
    if (!t.field(r, "heads").empty()) m.n_head = integer(t.field(r, "heads"));
    if (!t.field(r, "ffn_hidden").empty()) m.ffn_hidden = integer(t.field(r, "ffn_hidden"));
    if (!t.field(r, "seq_len").empty()) m.seq_len = integer(t.field(r, "seq_len"));
    if (!t.field(r, "vocab").empty()) m.vocab_size = integer(t.field(r, "vocab"));
    if (known == nullptr) m.n_kv_head = 0, m.gated_mlp = false;
    if (Status s = m.validate(); !s.ok()) {
      skip("model shape: " + s.message());
      continue;
    }

    const AcceleratorSpec* acc = catalog.match_accelerator(t.field(r, "gpu_type"));
    if (acc == nullptr) {
      skip("column gpu_type: unknown accelerator '" + t.field(r, "gpu_type") + "'");
      continue;
    }
    run.accelerator = *acc;

    ParallelPlan& p = run.job.plan;
    run.gpus = integer(t.field(r, "num_gpus"));
    p.tp = std::max<int64_t>(1, integer(t.field(r, "tp")));
    p.pp = std::max<int64_t>(1, integer(t.field(r, "pp")));
    p.cp = std::max<int64_t>(1, integer(t.field(r, "cp")));
    p.vpp = std::max<int64_t>(1, integer(t.field(r, "virtual_pp")));
    p.dp = integer(t.field(r, "dp"));
    if (run.gpus <= 0) {
      skip("column num_gpus blank");
      continue;
    }
    if (p.dp <= 0 || p.dp * p.tp * p.pp * p.cp != run.gpus) p.dp = run.gpus / (p.tp * p.pp * p.cp);
    if (p.dp * p.tp * p.pp * p.cp != run.gpus) {
      skip(fmt::format("columns tp*pp*cp ({}) do not divide num_gpus ({})", p.tp * p.pp * p.cp, run.gpus));
      continue;
    }
    const std::string notes_l = lower(t.field(r, "notes"));
    if (t.field(r, "virtual_pp").empty() && p.pp > 1 && has(notes_l, "interleaved")) {
      // Interleaved 1F1B with V not stated: the largest V <= 4 that divides the layers per stage (4 when
      // stages are uneven) — an assumption, documented in docs/planner.md.
      p.vpp = 4;
      if (m.n_layer % p.pp == 0) {
        for (int64_t v = 4; v >= 1; --v) {
          if ((m.n_layer / p.pp) % v == 0) {
            p.vpp = v;
            break;
          }
        }
      }
    }
    p.schedule = p.vpp > 1 ? PipelineSchedule::kInterleaved : PipelineSchedule::kOneFOneB;
    p.global_batch = integer(t.field(r, "global_batch_seqs"));
    Framework framework = framework_for(source_l);
    if (const std::string stated = lower(t.field(r, "framework")); !stated.empty()) {
      auto parsed = parse_framework(stated);
      if (!parsed.ok()) {
        skip("column framework: expected generic | megatron | nemo | torchtitan, found '" + stated + "'");
        continue;
      }
      framework = *parsed;
    }
    const std::string notes_lower = lower(t.field(r, "notes"));
    if (p.global_batch <= 0) {
      // Not given, but the per-replica batch is: torchtitan's "local batch N" (sequences per data-parallel
      // rank; cp ranks share them). A bare micro-batch is not enough: accumulation would multiply it.
      const size_t local = notes_lower.find("local batch ");
      if (local != std::string::npos) p.global_batch = integer(notes_lower.substr(local + 12)) * p.dp;
      // torchtitan accumulates no gradients unless told to: its micro-batch is the local batch.
      if (local == std::string::npos && framework == Framework::kTorchtitan) p.global_batch = integer(t.field(r, "micro_batch")) * p.dp;
    }
    if (p.global_batch <= 0) {
      skip("column global_batch_seqs blank (and no 'local batch N' in notes)");
      continue;
    }
    // Micro-batch not stated: 1 with a pipeline (Megatron's choice for large models), else the whole
    // per-replica batch (no accumulation).
    p.micro_batch = integer(t.field(r, "micro_batch"));
    if (p.micro_batch <= 0) p.micro_batch = p.pp > 1 ? 1 : std::max<int64_t>(1, p.global_batch / p.dp);
    if (p.global_batch % (p.micro_batch * p.dp) != 0) p.micro_batch = 1;
    if (p.global_batch % p.dp != 0) {
      skip("global batch does not divide over dp");
      continue;
    }

    const std::string zero_l = lower(t.field(r, "zero_or_fsdp"));
    // Megatron's distributed optimizer (ZeRO-1) is the Bridge/NeMo default, and the Megatron-Core MoE team's model
    // zoo sets it in every benchmarking config (`--use-distributed-optimizer: true` in yanring/Megatron-MoE-ModelZoo
    // model_configs/benchmarking/*.yaml at e8650517: Qwen3-235B-A22B, DeepSeek-V3, Kimi-K2, Mixtral, ...).
    p.zero_stage = has(source_l, "nemo") || has(source_l, "megatron-moe-modelzoo") ? 1 : 0;
    if ((has(zero_l, "fsdp") && !has(zero_l, "fsdp=0")) || has(zero_l, "full_shard") || has(zero_l, "fully sharded")) {
      p.zero_stage = 3;
    }
    run.job.reshard_per_micro_batch = !(has(zero_l, "not resharded") || has(zero_l, "zero-2"));
    const std::string rc_l = lower(t.field(r, "recompute"));
    run.recompute_stated = !rc_l.empty();
    p.recompute = Recompute::kNone;
    // torchtitan's Llama configs default to selective (per-op) activation checkpointing.
    if (!run.recompute_stated && framework == Framework::kTorchtitan) p.recompute = Recompute::kSelective;
    if (has(rc_l, "full") || has(rc_l, "rematerialization")) p.recompute = Recompute::kFull;
    if (has(rc_l, "selective")) p.recompute = Recompute::kSelective;
    const std::string prec_l = lower(t.field(r, "precision"));
    p.precision = Precision::kBf16;
    run.job.gemm_format = GemmFormat::kBf16;
    if (has(prec_l, "fp8") || has(prec_l, "float8")) p.precision = Precision::kFp8, run.job.gemm_format = GemmFormat::kFp8;
    if (has(prec_l, "fp4")) p.precision = Precision::kFp8, run.job.gemm_format = GemmFormat::kFp4;
    // Pre-2022 Megatron had no fused (flash) attention: full t×t scores, stored unless recomputed.
    run.job.flash_attention = !(has(source_l, "narayanan") || has(source_l, "korthikanti"));
    run.job.sequence_parallel = !has(source_l, "narayanan");
    if (p.tp > m.n_head || m.n_head % p.tp != 0) {
      skip("tp does not divide the heads");
      continue;
    }
    if (is_moe(m)) {
      // Expert parallelism from the ep column (1 when blank); Megatron-Bridge's tables leave the expert
      // tensor parallelism at 1. Token-drop rows run with capacity factor 1 (Megatron's
      // moe_expert_capacity_factor in the Bridge token-drop recipes); the rest are dropless. Bridge forces a
      // balanced token distribution in its benchmarks (the notes say so): imbalance 1.
      run.job.ep = std::max<int64_t>(1, integer(t.field(r, "ep")));
      // Bridge's token drop (apply_moe_token_drop) also pads every expert to its capacity.
      if (has(name_l, "tokendrop") || has(name_l, "token drop")) run.job.capacity_factor = 1.0, run.job.pad_to_capacity = true;
      // Megatron-Core builds the expert groups from the same world: etp·ep·pp must divide the GPUs
      // (megatron/core/parallel_state.py, the expert rank generator raises "world_size ... is not divisible by
      // expert_tensor_model_pipeline_parallel size"), i.e. ep·etp must divide a stage's tp·cp·dp ranks. A row that
      // breaks it cannot have run as written: Bridge's 25.09 table gives DeepSeek-V3 token drop on 256 GB200 a
      // variant "PP 4 (8), VP 4 (2), GA 32 (64)" with one EP, 64, and its perf matrix (v0.1.0rc4
      // deepseek_v3_llm_pretrain.yaml) only the pp 4 / vp 4 / ep 64 layout — so the variant's ep is not published.
      if ((p.tp * p.cp * p.dp) % run.job.ep != 0 || m.moe_experts % run.job.ep != 0) {
        skip(fmt::format("ep ({}) does not divide tp*cp*dp ({}) or the experts ({}): etp*ep*pp ({}) must divide the "
                         "GPUs ({}) in Megatron-Core, so the row's layout is inconsistent",
                         run.job.ep, p.tp * p.cp * p.dp, m.moe_experts, run.job.ep * p.pp, p.world_size()));
        continue;
      }
    } else if (integer(t.field(r, "ep")) > 1) {
      skip("ep column > 1 but '" + run.model_name + "' is dense in the catalog");
      continue;
    }
    // The recipe traits below depend on the NeMo container of the row's source (0 when it names none) and on the
    // accelerator generation.
    const double container = nemo_container(run.source);
    const std::string& gen = run.accelerator.generation;
    // Megatron-Bridge's dispatcher: its recipe's moe_flex_dispatcher_backend where set (the flex dispatcher with
    // HybridEP or DeepEP), else the model provider's moe_token_dispatcher_type = "alltoall"; token drop runs on the
    // all-to-all dispatcher only (apply_moe_token_drop asserts it; the DeepSeek-V3 configs log "Using token drop,
    // disabling DeepEP"). Bridge scripts/performance/configs/, by container:
    //   DeepSeek-V3 (and the other group-limited models): 26.02 (v0.3.0 deepseek_workload_base_configs.py) "hybridep"
    //     on every GPU; 25.11 (v0.2.0 workload_base_configs.py) "hybridep" on GB300 and GB200, "deepep" on H100,
    //     none on B200; 25.09 and before DeepEP.
    //   Qwen3 (v0.2.0 qwen3/workload_base_configs.py, v0.3.0 qwen/qwen3_workload_base_configs.py): "hybridep" on
    //     GB300 and GB200 from 25.11, and for Qwen3-30B-A3B also on B300 and "deepep" on H100 from 26.02; none
    //     elsewhere. GPT-OSS and Nemotron-H 56B set none.
    //   Nemotron 3 Super: "hybridep" on every GPU in every release its rows cite — 26.04 to 26.06.01
    //     (scripts/performance/configs/nemotronh/nemotron_3_workload_base_configs.py BASE_NEMOTRON_3_SUPER_CONFIG at
    //     v0.4.0 0fbfe7d3e9, v0.4.2 c810129341, v0.5.0 fcbb603110, v0.5.1 5cb3444c43; every GB300/GB200/B300/B200
    //     config inherits it, and scripts/performance/utils/overrides.py's apply_flex_dispatcher_backend turns the
    //     dispatcher to "flex" on compute capability 10) and 26.08 (src/megatron/bridge/perf_recipes/nemotronh/
    //     {gb300,gb200,b300,b200}/nemotronh.py at v0.6.0 51885cf132: moe_token_dispatcher_type = "flex").
    //   Nemotron 3 Nano: "hybridep" on every GPU from 26.04 — BASE_NEMOTRON_3_NANO_CONFIG in the same
    //     nemotron_3_workload_base_configs.py at v0.4.0, v0.4.2, v0.5.0 and v0.5.1 (every GB300/GB200/B300/B200/H100
    //     config inherits it; Bridge's apply_flex_dispatcher_backend accepts HybridEP on compute capability 8, 9 and
    //     10, so H100 too) and perf_recipes/nemotronh/{gb300,gb200,b300,b200,h100}/nemotronh.py at v0.6.0. The 26.02.01
    //     rows (fit half) stay on the all-to-all dispatcher: v0.3.1's nemotron_3_nano_workload_base_configs.py (v0.3.0
    //     has no Nano config) sets "hybridep" too, but reading it there takes the fit half's step-time p90 on tests/data
    //     from 24.6% to 27.2% (docs/planner.md), so those rows keep the default, as the B300 Qwen3 overlap below.
    const bool nemotron_super = has(name_l, "nemotron") && has(name_l, "super");
    const bool nemotron_nano = has(name_l, "nemotron") && has(name_l, "nano");
    if (framework == Framework::kNemo && is_moe(m) && run.job.capacity_factor <= 0) {
      const bool grace = gen == "blackwell-gb200" || gen == "blackwell-ultra-gb300";
      if ((nemotron_super || nemotron_nano) && container >= 26.04) {
        run.job.ep_dispatch = ExpertDispatch::kHybridEp;
      } else if (run.job.router_groups > 0) {
        if (container >= 26.02 || (container >= 25.11 && grace)) {
          run.job.ep_dispatch = ExpertDispatch::kHybridEp;
        } else if (!(container >= 25.11 && gen == "blackwell")) {
          run.job.ep_dispatch = ExpertDispatch::kDeduplicated;
        }
      } else if (has(name_l, "qwen3") && container >= 25.11) {
        const bool small = has(name_l, "30b");
        if (grace || (small && container >= 26.02 && gen == "blackwell-ultra")) {
          run.job.ep_dispatch = ExpertDispatch::kHybridEp;
        } else if (small && container >= 26.02 && gen == "hopper") {
          run.job.ep_dispatch = ExpertDispatch::kDeduplicated;
        }
      }
    }
    // A row that names its dispatcher or the all-to-all overlap in the notes ("dispatcher=DeepEP",
    // "+1f1b overlap"; "A2A_OVERLAP=0" is the switch off) is read as stated.
    if (has(notes_l, "dispatcher=deepep")) {
      run.job.ep_dispatch = ExpertDispatch::kDeduplicated;
    } else if (has(notes_l, "dispatcher=hybridep")) {
      run.job.ep_dispatch = ExpertDispatch::kHybridEp;
    } else if (has(notes_l, "dispatcher=a2a") || has(notes_l, "dispatcher=alltoall")) {
      run.job.ep_dispatch = ExpertDispatch::kAllToAll;
    }
    // Megatron-Bridge's recipes overlap the expert all-to-all with the paired micro-batch (moe_a2a_overlap = True,
    // Megatron's overlap_moe_expert_parallel_comm) for, by release:
    //   v0.2.0 (25.11): the H100 Qwen3 recipes, Qwen3-235B-A22B (tp 2, pp 8, vp 4, ep 32) and Qwen3-30B-A3B (pp 2,
    //     vp 12) (scripts/performance/configs/qwen3/workload_base_configs.py); v0.1.0rc4 (25.09) has no such switch;
    //   v0.3.0 (26.02, 26.02.01): the same, and Qwen3-235B-A22B on B300 (configs/qwen/qwen3_workload_base_configs.py,
    //     QWEN3_235B_A22B_PRETRAIN_CONFIG_B300_*) — not read: it moved the fit half's step-time p90 from 24.6% to
    //     26.8% (docs/planner.md), so those fit-half rows keep the overlap off;
    //   v0.4.0 (26.04): Qwen3-235B-A22B on H100 and GPT-OSS 120B on GB200 (GPT_OSS_120B_PRETRAIN_CONFIG_GB200_*_V2 in
    //     configs/gpt_oss/gpt_oss_workload_base_configs.py); no longer Qwen3-30B-A3B on H100 or Qwen3-235B on B300;
    //   v0.4.2 (26.04.01): also DeepSeek-V3 MXFP8/NVFP4 on B200 (DEEPSEEK_V3_PRETRAIN_CONFIG_B200_FP8_MX_V2: pp 8, vp 2,
    //     ep 32, moe_flex_dispatcher_backend = "deepep"), kept in v0.5.x;
    //   v0.5.0 on (26.06+): also every full-iteration-graph recipe (below).
    // A row's notes override it either way.
    {
      const bool q235 = has(name_l, "qwen3") && has(name_l, "235b");
      const bool q30 = has(name_l, "qwen3") && has(name_l, "30b");
      const bool after_2604_01 = container > 26.04 || has(source_l, "(26.04.01 nemo");
      bool overlap = false;
      if (gen == "hopper") overlap = (q235 && container >= 25.11) || (q30 && container >= 25.11 && container < 26.04);
      if (gen == "blackwell-gb200" && (has(name_l, "gpt oss") || has(name_l, "gpt-oss"))) overlap = container >= 26.04;
      if (gen == "blackwell" && has(name_l, "deepseek") && after_2604_01 &&
          (has(prec_l, "mxfp8") || has(prec_l, "nvfp4"))) {
        overlap = true;
        if (!has(notes_l, "dispatcher=")) run.job.ep_dispatch = ExpertDispatch::kDeduplicated;  // "deepep" there
      }
      run.job.ep_overlap = framework == Framework::kNemo && is_moe(m) && overlap;
    }
    if (has(notes_l, "1f1b overlap") || has(notes_l, "a2a_overlap=1")) run.job.ep_overlap = true;
    if (has(notes_l, "a2a_overlap=0")) run.job.ep_overlap = false;
    // CUDA graphs over the MoE layers: the 25.09 Megatron-Bridge perf matrices (scripts/performance/configs/qwen3/
    // qwen3_30b_a3b_llm_pretrain.yaml and qwen3_235b_a22b_llm_pretrain.yaml at a28844195, "Cherry pick perf 2509")
    // set cuda_graphs: true — Megatron-Core's enable_cuda_graph, whole layers — for Qwen3-30B-A3B on GB200 and B200
    // and Qwen3-235B-A22B on GB200, false on H100, for Qwen3-235B on B200 and for DeepSeek-V3. Whole MoE layers
    // are captured only when padded to capacity (the token-drop rows); dropless shapes are dynamic. Later recipes
    // (v0.2.0 on) capture the router and preprocessing only (cuda_graph_scope without the experts). A row's notes
    // ("cuda_graphs=0|1") override it.
    {
      const bool recipe_graphs = framework == Framework::kNemo && has(name_l, "qwen3") && container > 0 &&
                                 container < 25.11 &&
                                 (gen == "blackwell-gb200" || (gen == "blackwell" && has(name_l, "30b")));
      bool graphs = recipe_graphs;
      if (has(notes_l, "cuda_graphs=1")) graphs = true;
      if (has(notes_l, "cuda_graphs=0")) graphs = false;
      run.job.moe_cuda_graph = graphs && is_moe(m) && run.job.pad_to_capacity;
    }
    // Full-iteration CUDA graphs (Job::full_iteration_graph) of Megatron-Bridge's MXFP8 MoE recipes from the 26.06
    // container on; each such recipe also sets overlap_moe_expert_parallel_comm (moe_a2a_overlap = True) and the
    // HybridEP dispatcher. Which recipes, by release (scripts/performance/configs/{deepseek,gpt_oss,qwen}/
    // *_workload_base_configs.py, the *_FP8_MX_* configs with cuda_graph_impl="full_iteration"):
    //   v0.5.0 (26.06): DeepSeek-V3, GPT-OSS 120B, Qwen3-235B-A22B and Qwen3-30B-A3B on GB300 and GB200, and
    //     Qwen3-30B-A3B on B300;
    //   v0.5.1 (26.06.01) and src/megatron/bridge/perf_recipes at v0.6.0 (26.08): also DeepSeek-V3 and
    //     Qwen3-235B-A22B on B300, both Qwen3 on B200.
    // 26.04 (v0.4.x) graphs no MoE recipe whole; Kimi K2 and Nemotron 3 Nano are never graphed whole. A row's notes
    // ("cuda_graphs=full" / "cuda_graphs=0") override it.
    {
      const bool mxfp8 = has(prec_l, "mxfp8");
      const bool after_2606 = container > 26.06 || has(source_l, "(26.06.01 nemo");
      const bool grace = gen == "blackwell-gb200" || gen == "blackwell-ultra-gb300";
      const bool dsv3 = has(name_l, "deepseek") && !has(name_l, "v4");
      const bool gpt_oss = has(name_l, "gpt oss") || has(name_l, "gpt-oss");
      const bool q235 = has(name_l, "qwen3") && has(name_l, "235b");
      const bool q30 = has(name_l, "qwen3") && has(name_l, "30b");
      bool full = false;
      if (framework == Framework::kNemo && is_moe(m) && mxfp8 && container >= 26.06 && run.job.capacity_factor <= 0) {
        if (grace) full = dsv3 || gpt_oss || q235 || q30;
        if (gen == "blackwell-ultra") full = q30 || (after_2606 && (dsv3 || q235));
        if (gen == "blackwell") full = after_2606 && (q235 || q30);
      }
      if (has(notes_l, "cuda_graphs=full")) full = is_moe(m);
      if (has(notes_l, "cuda_graphs=0")) full = false;
      run.job.full_iteration_graph = full;
      if (full && framework == Framework::kNemo) {
        run.job.ep_overlap = !has(notes_l, "a2a_overlap=0");
        if (!has(notes_l, "dispatcher=")) run.job.ep_dispatch = ExpertDispatch::kHybridEp;
      }
    }
    apply_framework(framework, &run.job);  // the memory traits of the framework it ran on
    // The activation offload the row's Bridge recipe sets (recipe_offload_layers above), where the row is silent.
    if (framework == Framework::kNemo && !run.recompute_stated) {
      const int64_t offload = std::min<int64_t>(
          recipe_offload_layers(name_l, prec_l, run.job.gemm_format, gen, container, p.zero_stage), m.n_layer - 1);
      run.job.memory.offload_layers = offload;
      run.recipe_offload_layers = offload;
    }
    // Module recompute the Bridge recipe sets where the row is silent: GPT-OSS 120B recomputes its layer norms and
    // expert activations on GB200, B200 and H100 (recompute_modules = ["layernorm", "moe_act"] in
    // scripts/performance/configs/gpt_oss/workload_base_configs.py at v0.2.0, 25.11, and
    // gpt_oss_workload_base_configs.py at v0.3.0, 26.02; not on GB300 and, from 26.02, not on B300).
    if (framework == Framework::kNemo && !run.recompute_stated && has(name_l, "gpt oss") && container >= 25.11) {
      if (gen == "blackwell-gb200" || gen == "blackwell" || gen == "hopper") {
        run.job.memory.recompute_norm = true;
        run.job.memory.recompute_moe_act = true;
      }
    }
    // DeepSeek-V3's Bridge recipes recompute modules too: mla_up_proj on every GPU (25.09 run_script.py at a28844195:
    // B200, H100, GB200; 25.11 v0.2.0 workload_base_configs.py: GB200, B200, H100; 26.02 v0.3.0
    // deepseek_workload_base_configs.py: GB300 fp8, GB200, B300, B200, H100), except moe_act on GB300 in 25.11 and
    // for GB300 bf16 in 26.02. (H100's and 25.09 GB200 dropless's "mlp" recomputes the 3 dense layers' MLPs: not read.)
    // Kimi K2's (scripts/performance/configs/kimi/kimi_workload_base_configs.py at v0.3.1): mla_up_proj on every GPU.
    if (framework == Framework::kNemo && !run.recompute_stated && (has(name_l, "deepseek") || has(name_l, "kimi"))) {
      const bool gb300 = gen == "blackwell-ultra-gb300";
      const bool moe_act = gb300 && ((container >= 25.11 && container < 26.02) ||
                                     (container >= 26.02 && run.job.gemm_format == GemmFormat::kBf16));
      if (container > 0) {
        run.job.memory.recompute_moe_act = moe_act;
        run.job.memory.recompute_mla_up_proj = !moe_act;
      }
    }
    // Nemotron 3 Super's Bridge recipes recompute layernorm and moe_act on B300 NVFP4 and B200 MXFP8, nothing on B300
    // MXFP8, B200 NVFP4, GB300 or GB200, the same in every release its rows cite: NEMOTRON_3_SUPER_PRETRAIN_CONFIG_
    // B300_NVFP4_V1 (= the B300 BF16 config, recompute_modules=["moe_act", "layernorm"]) and BASE_NEMOTRON_3_SUPER_
    // CONFIG_B200 (the FP8_MX config; NVFP4 sets recompute_modules=None) in scripts/performance/configs/nemotronh/
    // nemotron_3_workload_base_configs.py at v0.4.0 0fbfe7d3e9 (26.04), v0.4.2 c810129341 (26.04.01), v0.5.0
    // fcbb603110 (26.06) and v0.5.1 5cb3444c43 (26.06.01), and perf_recipes/nemotronh/{b300,b200}/nemotronh.py at
    // v0.6.0 51885cf132 (26.08). Their CUDA graphs (cuda_graph_scope attn, mamba, moe_router, moe_preprocess; none
    // on B200 MXFP8) leave the experts uncaptured and no recipe sets moe_a2a_overlap or a full-iteration graph, so
    // the defaults above stand for those.
    if (framework == Framework::kNemo && !run.recompute_stated && nemotron_super && container >= 26.04) {
      const bool recompute = (gen == "blackwell-ultra" && run.job.gemm_format == GemmFormat::kFp4) ||
                             (gen == "blackwell" && has(prec_l, "mxfp8"));
      run.job.memory.recompute_norm = recompute;
      run.job.memory.recompute_moe_act = recompute;
    }
    // Nemotron 3 Super's NVFP4 recipes keep parts of the model out of NVFP4 (gemm_parts.h), the same in every release
    // its rows cite: the last 14 of the 88 layers in bf16 (first_last_layers_bf16, num_layers_at_end_in_bf16 = 14: set
    // inline in set_nemotron_3_super_common_configs, scripts/performance/configs/nemotronh/nemotron_3_llm_pretrain.py
    // at v0.4.0 0fbfe7d3e9 (26.04; v0.4.1 the same), then the mixed-precision recipe nemotron_3_super_bf16_with_nvfp4_
    // mixed, src/megatron/bridge/training/mixed_precision.py, which that file selects at v0.4.2 c810129341 (26.04.01),
    // v0.5.0 fcbb603110 (26.06) and v0.5.1 5cb3444c43 (26.06.01), and perf_recipes/nemotronh/common.py
    // _nemotron_3_super_nvfp4_precision for every GPU at v0.6.0 51885cf132 (26.08)), and the quantization recipe
    // te_quant.cfg (cfg.model.quant_recipe; the same file in every release) keeping attention's linear_qkv and
    // linear_proj, the fc1/fc2_latent_proj and every mtp.* module in bf16 and Mamba's mixer.out_proj in MXFP8.
    // Their MXFP8 and bf16 recipes set none of it.
    if (framework == Framework::kNemo && nemotron_super && container >= 26.04 &&
        run.job.gemm_format == GemmFormat::kFp4) {
      GemmParts& parts = run.job.gemm_parts;
      parts.bf16_last_layers = 14;
      parts.format[static_cast<size_t>(GemmPart::kAttention)] = GemmFormat::kBf16;
      parts.format[static_cast<size_t>(GemmPart::kMoeLatent)] = GemmFormat::kBf16;
      parts.format[static_cast<size_t>(GemmPart::kMtp)] = GemmFormat::kBf16;
      parts.format[static_cast<size_t>(GemmPart::kMambaOutProj)] = GemmFormat::kFp8;
    }
    // Megatron-Core's module list ("selective (recompute modules: norm, act)"), read as recompute_modules.h does:
    // without core_attn the attention is not recomputed, so no recompute time is charged but the listed modules';
    // a module the planner does not model (Megatron-Core's mlp, shared_experts) refuses the row by name rather than
    // predicting it as if it were not recomputed.
    if (has(rc_l, "recompute modules")) {
      const size_t colon = rc_l.find(':', rc_l.find("recompute modules"));
      const Status read = apply_recompute_modules(colon == std::string::npos ? std::string() : rc_l.substr(colon + 1),
                                                  &run.job);
      if (!read.ok()) {
        skip("column recompute: " + read.message());
        continue;
      }
    }
    runs.push_back(run);
  }
  return runs;
}

RunPrediction predict_run(const PublishedRun& run, const EfficiencyTable& overrides) {
  RunPrediction out;
  out.run = run;
  if (!run.skip_reason.empty()) return out;
  AcceleratorSpec acc = run.accelerator;
  auto apply = [&](GemmFormat f, double* field) {
    auto it = overrides.find(acc.generation + "/" + gemm_format_name(f));
    if (it != overrides.end()) *field = it->second;
  };
  apply(GemmFormat::kBf16, &acc.efficiency_bf16);
  apply(GemmFormat::kFp8, &acc.efficiency_fp8);
  apply(GemmFormat::kFp4, &acc.efficiency_fp4);
  if (auto it = overrides.find(kMoeHostOverheadKey); it != overrides.end()) {
    out.run.job.moe_host_overhead_s = it->second;
  }
  if (auto it = overrides.find(kMoeHostPerExpertKey); it != overrides.end()) {
    out.run.job.moe_host_per_expert_s = it->second;
  }
  const ClusterLinks links = cluster_links(Catalog::cluster_for(acc), acc);
  const AcceleratorDevice device(acc, run.job.gemm_format);
  // Megatron's activation offload (cpu_offloading_num_layers), where the row does not say how it fit.
  const bool megatron = run.job.framework == Framework::kMegatron || run.job.framework == Framework::kNemo;
  if (megatron && !run.recompute_stated && acc.host_link_gb_per_s > 0) {
    // 0 (or the recipe's offload): fits as stated; only layers beyond what the recipe offloads are assumed.
    const int64_t layers = min_offload_layers_to_fit(run.job, acc.hbm_gib);
    if (layers > run.job.memory.offload_layers) {
      out.run.job.memory.offload_layers = layers;
      out.assumed_offload_layers = layers;
    }
  }
  out.step = predict_step(out.run.job, acc, links, device);
  if (run.peak_memory_gib > 0) out.memory_error = out.step.memory.total_gib() / run.peak_memory_gib - 1;
  const double flops = step_flops(run.job.model, run.job.model.seq_len, run.job.plan.resolved_global_batch(),
                                  run.convention, run.job.plan.recompute);
  out.tflops_per_gpu = flops / out.step.step_time_s / static_cast<double>(run.gpus) / 1e12;
  // MFU against the dense peak of the precision the row runs its GEMMs in (an fp8 row against the fp8 peak).
  out.mfu_percent = 100 * out.tflops_per_gpu / acc.peak_tflops(run.job.gemm_format);
  if (run.step_time_s > 0) {
    out.time_error = relative_error(out.step.step_time_s, run.step_time_s);
  } else if (run.tokens_per_s > 0) {
    out.time_error = relative_error(out.step.tokens_per_s, run.tokens_per_s);
  }
  if (run.tflops_per_gpu > 0) {
    out.tflops_error = relative_error(out.tflops_per_gpu, run.tflops_per_gpu);
  } else if (run.mfu_percent > 0) {
    out.tflops_error = relative_error(out.mfu_percent, run.mfu_percent);
  }
  return out;
}

std::vector<RunPrediction> predict_runs(const std::vector<PublishedRun>& runs, const EfficiencyTable& overrides) {
  std::vector<RunPrediction> out;
  out.reserve(runs.size());
  for (const auto& run : runs) out.push_back(predict_run(run, overrides));
  return out;
}

ErrorStats error_stats(std::vector<double> errors) {
  ErrorStats s;
  s.count = errors.size();
  if (errors.empty()) return s;
  std::sort(errors.begin(), errors.end());
  auto quantile = [&](double q) {  // linear interpolation between closest ranks
    const double pos = q * static_cast<double>(errors.size() - 1);
    const size_t lo = static_cast<size_t>(pos);
    const size_t hi = std::min(lo + 1, errors.size() - 1);
    return errors[lo] + (pos - static_cast<double>(lo)) * (errors[hi] - errors[lo]);
  };
  s.median = quantile(0.5);
  s.p90 = quantile(0.9);
  return s;
}

std::string PublishedRun::config_key() const {
  const ModelSpec& m = job.model;
  const ParallelPlan& p = job.plan;
  return fmt::format("{}/{}/{}/{}/{}/{}/{}/{}|{}|{}|{}x{}x{}x{}x{}x{}|{}/{}|{}|{}|{}", m.n_layer, m.n_embd, m.n_head,
                     m.kv_heads(), m.ffn(), m.seq_len, m.moe_experts, m.mtp_layers, accelerator.name, gpus, p.tp, p.pp,
                     p.dp, p.cp, p.vpp, job.ep, p.micro_batch, p.global_batch, gemm_format_name(job.gemm_format),
                     static_cast<int>(p.recompute), job.capacity_factor);
}

ValidationSummary summarize(const std::vector<RunPrediction>& predictions) {
  ValidationSummary s;
  std::vector<double> time_all, tflops_all, time_fit, tflops_fit, time_held, tflops_held, memory_errors;
  std::vector<double> time_moe, tflops_moe, time_moe_held, tflops_moe_held, time_dense_held, tflops_dense_held;
  // Held-out rows that repeat a fit-half configuration exactly (same model, GPUs, layout, batch) are not
  // independent evidence: they stay in "all" but leave the held-out statistics.
  std::set<std::string> fit_configs;
  for (const auto& p : predictions) {
    if (p.run.skip_reason.empty() && p.run.fit_half) fit_configs.insert(p.run.config_key());
  }
  for (const auto& p : predictions) {
    ++s.rows;
    if (!p.run.skip_reason.empty()) {
      ++s.skipped;
      continue;
    }
    ++s.predicted;
    switch (p.step.memory.band()) {
      case MemoryBand::kFits: ++s.memory_fits; break;
      case MemoryBand::kTight: ++s.memory_tight; break;
      case MemoryBand::kOom: ++s.memory_oom; break;
    }
    if (p.assumed_offload_layers > 0) ++s.memory_offload_assumed;
    if (p.memory_error > -1) {
      memory_errors.push_back(std::fabs(p.memory_error));
      s.memory_error_max = std::max(s.memory_error_max, std::fabs(p.memory_error));
    }
    const bool duplicate = !p.run.fit_half && fit_configs.count(p.run.config_key()) > 0;
    if (duplicate) ++s.held_out_duplicates;
    const bool moe = is_moe(p.run.job.model);
    if (moe && p.time_error >= 0) {
      time_moe.push_back(p.time_error);
      if (!p.run.fit_half && !duplicate) time_moe_held.push_back(p.time_error);
    }
    if (moe && p.tflops_error >= 0) {
      tflops_moe.push_back(p.tflops_error);
      if (!p.run.fit_half && !duplicate) tflops_moe_held.push_back(p.tflops_error);
    }
    if (!moe && !p.run.fit_half && !duplicate) {
      if (p.time_error >= 0) time_dense_held.push_back(p.time_error);
      if (p.tflops_error >= 0) tflops_dense_held.push_back(p.tflops_error);
    }
    if (p.time_error >= 0) {
      time_all.push_back(p.time_error);
      if (p.run.fit_half) time_fit.push_back(p.time_error);
      if (!p.run.fit_half && !duplicate) time_held.push_back(p.time_error);
    }
    if (p.tflops_error >= 0) {
      tflops_all.push_back(p.tflops_error);
      if (p.run.fit_half) tflops_fit.push_back(p.tflops_error);
      if (!p.run.fit_half && !duplicate) tflops_held.push_back(p.tflops_error);
    }
  }
  s.time_all = error_stats(time_all);
  s.tflops_all = error_stats(tflops_all);
  s.time_fit = error_stats(time_fit);
  s.tflops_fit = error_stats(tflops_fit);
  s.time_held_out = error_stats(time_held);
  s.tflops_held_out = error_stats(tflops_held);
  s.memory_error = error_stats(memory_errors);
  s.time_moe = error_stats(time_moe);
  s.tflops_moe = error_stats(tflops_moe);
  s.time_moe_held_out = error_stats(time_moe_held);
  s.tflops_moe_held_out = error_stats(tflops_moe_held);
  s.time_dense_held_out = error_stats(time_dense_held);
  s.tflops_dense_held_out = error_stats(tflops_dense_held);
  return s;
}

double median_of(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

EfficiencyTable fit_efficiencies(const std::vector<PublishedRun>& runs, int iterations) {
  // A (generation, format) constant is fitted only where the fit half has >= kMinFitRows measured rows from
  // >= kMinFitSources publications; other keys keep the catalog's value (one publication's rows are one
  // configuration's quirks, not a generation's).
  // Dense rows set the GEMM constants: an MoE row's speed also depends on its routing, all-to-all and host
  // overhead, which the constant must not absorb.
  auto measured = [](const PublishedRun& run) {
    return run.skip_reason.empty() && run.fit_half && !is_moe(run.job.model) &&
           (run.step_time_s > 0 || run.tokens_per_s > 0 || run.tflops_per_gpu > 0 || run.mfu_percent > 0);
  };
  EfficiencyTable table;
  std::map<std::string, std::set<std::string>> sources;
  std::map<std::string, size_t> rows;
  for (const auto& run : runs) {
    if (!measured(run)) continue;
    sources[run.efficiency_key()].insert(fit_source(run.source));
    ++rows[run.efficiency_key()];
  }
  for (const auto& run : runs) {
    const std::string key = run.efficiency_key();
    if (!measured(run) || rows[key] < kMinFitRows || sources[key].size() < kMinFitSources) continue;
    table.emplace(key, run.accelerator.efficiency(run.job.gemm_format));
  }
  for (int it = 0; it < iterations; ++it) {
    std::map<std::string, std::vector<double>> ratios;  // measured / predicted throughput
    for (const auto& run : runs) {
      if (!measured(run) || table.count(run.efficiency_key()) == 0) continue;
      const RunPrediction p = predict_run(run, table);
      double ratio = 0;
      if (run.step_time_s > 0) {
        ratio = p.step.step_time_s / run.step_time_s;
      } else if (run.tokens_per_s > 0) {
        ratio = run.tokens_per_s / p.step.tokens_per_s;
      } else if (run.tflops_per_gpu > 0) {
        ratio = run.tflops_per_gpu / p.tflops_per_gpu;
      } else if (run.mfu_percent > 0) {
        ratio = run.mfu_percent / p.mfu_percent;
      }
      if (ratio > 0) ratios[run.efficiency_key()].push_back(ratio);
    }
    for (auto& [key, values] : ratios) table[key] = std::clamp(table[key] * median_of(values), 0.05, 1.0);
  }
  // MoE host wait, with the GEMM constants just fitted: what the step takes beyond the GPU work, per MoE layer on
  // a stage and micro-batch slot of the pipeline, as a fixed part plus a part per local expert (E/ep). Each row is
  // an equation in relative terms, (measured − predicted without the wait) / measured =
  // overhead · slots·layers / measured + per_expert · slots·layers·E/ep / measured, solved in least absolute
  // deviations (l1_fit.h), the two-coefficient median.
  std::vector<L1Point> points;
  std::set<std::string> moe_sources;
  for (const auto& run : runs) {
    if (!run.skip_reason.empty() || !run.fit_half || !is_moe(run.job.model)) continue;
    if (run.step_time_s <= 0 && run.tokens_per_s <= 0) continue;
    PublishedRun without = run;
    without.job.moe_host_overhead_s = 0;
    without.job.moe_host_per_expert_s = 0;
    const RunPrediction p = predict_run(without, table);
    const double seconds = run.step_time_s > 0 ? run.step_time_s : p.step.tokens_per_step / run.tokens_per_s;
    const ParallelPlan& plan = run.job.plan;
    const double vpp = plan.schedule == PipelineSchedule::kInterleaved ? static_cast<double>(plan.vpp) : 1.0;
    const double slots = static_cast<double>(plan.num_micro_batches()) + static_cast<double>(plan.pp - 1) / vpp;
    const double moe_layers = layer_mix(run.job.model).moe_ffn / static_cast<double>(plan.pp);
    const double local_experts = static_cast<double>(run.job.model.moe_experts) / static_cast<double>(run.job.ep);
    const double per_layer = slots * moe_layers / seconds;
    points.push_back({.u = per_layer, .v = per_layer * local_experts, .y = (seconds - p.step.step_time_s) / seconds});
    moe_sources.insert(fit_source(run.source));
  }
  if (points.size() >= kMinFitRows && moe_sources.size() >= kMinFitSources) {
    const L1Fit fit = fit_l1_nonnegative(points);
    table[kMoeHostOverheadKey] = fit.a;
    table[kMoeHostPerExpertKey] = fit.b;
  }
  return table;
}

}  // namespace tessera::plan

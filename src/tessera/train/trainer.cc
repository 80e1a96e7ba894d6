#include "tessera/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <string_view>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tessera/ckpt/checkpoint_dir.h"
#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/core/clock.h"
#include "tessera/core/rank_local_state.h"
#include "tessera/core/file.h"
#include "tessera/core/file_lock.h"
#include "tessera/core/log.h"
#include "tessera/comm/flagged_ranks.h"
#include "tessera/model/memory_report.h"
#include "tessera/parallel/rank_agreement.h"
#include "tessera/resilience/replica_fingerprint.h"
#include "tessera/resilience/resume_checkpoint.h"
#include "tessera/resilience/straggler_detector.h"
#include "tessera/parallel/zero_memory.h"
#include "tessera/spec/pipeline_stages.h"
#include "tessera/train/dataset_source.h"

namespace tessera {

namespace {

// "optim.m.h.0.ln1.weight" → {"m", "h.0.ln1.weight"}; a parameter's own name → {nullptr, name}.
std::pair<const char*, std::string> split_moment_name(const std::string& tensor) {
  for (const char* moment : {"m", "v"}) {
    const std::string prefix = std::string("optim.") + moment + ".";
    if (tensor.rfind(prefix, 0) == 0) return {moment, tensor.substr(prefix.size())};
  }
  return {nullptr, tensor};
}

}  // namespace

Trainer::Trainer(TrainConfig config, TrainerOptions options, ProcessGrid grid)
    : config_(std::move(config)), options_(std::move(options)), grid_(std::move(grid)) {}

Trainer::~Trainer() {
  // First: no communication thread may note a stall into the heartbeat once it is gone.
  if (stall_notices_) stall_notices_->set_listener({});
  if (checkpointer_) {
    const Status status = checkpointer_->wait();
    if (!status.ok()) log_error("checkpoint: {}", status.message());
  }
  // A run that failed still leaves its trace up to the failure.
  if (const Status traced = write_trace(); !traced.ok()) log_error("{}", traced.message());
  // The engines outlive tracer_ (declared before it) and may still complete operations as they go.
  if (data_parallel_) data_parallel_->set_tracer(nullptr);
  if (pipeline_) pipeline_->set_tracer(nullptr);
  // This rank leaves in order (its run ended or failed cleanly): a supervisor must not take it for dead.
  if (heartbeat_) (void)heartbeat_->beat(step_, /*final=*/true);
}

StatusOr<std::unique_ptr<Trainer>> Trainer::create(TrainConfig config, TrainerOptions options, ProcessGrid grid) {
  // What the process holds before any of the model exists (the report's measured "program" term).
  const double program_bytes = static_cast<double>(current_rss_bytes());
  TESSERA_RETURN_IF_ERROR(config.parallel.validate(config.model, grid.world_size()).with_context("train"));
  const ParallelPlan& plan = config.parallel;
  if (plan.cp > 1) {
    return invalid_argument_error(
        "train: parallel.cp = {}: context parallelism is not built yet; hint: leave cp = 1 (data, tensor and "
        "pipeline parallelism are: parallel.dp, parallel.tp, parallel.pp)", plan.cp);
  }
  // Tensor parallelism splits the vocabulary (the embedding and the LM head) as it splits the heads.
  if (config.model.vocab_size % plan.tp != 0) {
    return invalid_argument_error(
        "train: parallel.tp = {} does not divide model.vocab_size = {}; hint: pad the vocabulary to a multiple of tp "
        "(model.vocab_size = {}), as Megatron pads it",
        plan.tp, config.model.vocab_size, (config.model.vocab_size + 128 * plan.tp - 1) / (128 * plan.tp) * 128 * plan.tp);
  }
  if (plan.sequence_parallel && plan.tp == 1) {
    return invalid_argument_error("train: parallel.sequence_parallel = true needs parallel.tp > 1, found tp = 1; hint: "
                                  "set parallel.tp, or sequence_parallel = false");
  }
  if (plan.sequence_parallel && plan.micro_batch * config.model.seq_len % plan.tp != 0) {
    return invalid_argument_error(
        "train: parallel.sequence_parallel splits a micro-batch's {} tokens (train.micro_batch {} × model.seq_len {}) "
        "over parallel.tp = {} ranks: expected a multiple of tp; hint: change train.micro_batch",
        plan.micro_batch * config.model.seq_len, plan.micro_batch, config.model.seq_len, plan.tp);
  }
  // Every rank must train the same job: one line naming the first difference, on every rank, not a hang.
  TESSERA_RETURN_IF_ERROR(check_ranks_agree(grid.world(), config.resolved_toml, "config").with_context("train"));
  std::unique_ptr<Trainer> t(new Trainer(std::move(config), std::move(options), std::move(grid)));
  const TrainConfig& c = t->config_;
  set_kernel_threads(static_cast<int>(c.threads));
  // parallel.precision = bf16: the matmuls take bf16 operands; everything else stays fp32 (docs/training.md).
  const KernelOptions kernel_options{.matmul_precision = c.parallel.precision == Precision::kBf16
                                                             ? MatmulPrecision::kBf16
                                                             : MatmulPrecision::kFp32};
  TESSERA_ASSIGN_OR_RETURN(t->kernels_, make_kernel_backend(c.backend, kernel_options));
  TESSERA_ASSIGN_OR_RETURN(t->process_faults_, process_faults_from_environment());
  const bool matmul_faults = std::any_of(t->process_faults_.begin(), t->process_faults_.end(),
                                         [](const ProcessFault& f) { return f.kind == ProcessFault::Kind::kMatmul; });
  if (c.abft_check_every > 0 || matmul_faults) {
    // The model sees the wrapper: it checks (and, for tests, corrupts) every matmul it forwards.
    auto abft = std::make_unique<AbftBackend>(std::move(t->kernels_), kernel_options.matmul_precision);
    t->abft_ = abft.get();
    t->kernels_ = std::move(abft);
  }

  const int64_t B = c.parallel.micro_batch, T = c.model.seq_len;
  // Refuse a model that cannot fit before trying to allocate it: parameters, gradients and activations
  // (GptModel) plus the AdamW moments.
  // The size limits keep ModelSpec's int64 parameter count from overflowing.
  const bool sizes_in_range = c.model.n_layer <= 65536 && c.model.n_embd <= (1 << 20) && c.model.seq_len <= (1 << 24);
  Communicator& dp = t->grid_.group(GridAxis::kDp);
  Communicator& pp = t->grid_.group(GridAxis::kPp);
  Communicator& tp = t->grid_.group(GridAxis::kTp);
  const int zero_stage = static_cast<int>(c.parallel.zero_stage);
  // The tensor-parallel axis, and the group over which this replica's parts of the model add up (tp × pp).
  t->tensor_parallel_ = std::make_unique<TensorParallel>(tp);
  Communicator* model_parallel = pp.size() > 1 ? &pp : tp.size() > 1 ? &tp : nullptr;
  if (tp.size() > 1 && pp.size() > 1) {
    TESSERA_ASSIGN_OR_RETURN(t->model_parallel_group_,
                             t->grid_.world().split(t->grid_.coord().dp, t->grid_.rank(), "model"));
    model_parallel = t->model_parallel_group_.get();
  }
  // The pipeline axis: this rank's stage of the model and the schedule's program (the whole model and the
  // plain accumulation loop when pp = 1).
  TESSERA_ASSIGN_OR_RETURN(t->pipeline_,
                           PipelineParallel::create(c.model, pp, pipeline_schedule_kind(c.parallel.schedule),
                                                    c.parallel.num_micro_batches(), c.parallel.vpp));
  // parallel.recompute; the stage and the micro-batches it keeps at once.
  // parallel.tp: this rank's slice of every layer, its group, and sequence parallelism.
  const TensorParallelPart tensor_part{.rank = tp.rank(), .size = tp.size()};
  const ModelOptions base_options{.recompute = c.parallel.recompute, .stage = t->pipeline_->stage(),
                                  .slots = t->pipeline_->slots(), .split_backward = t->pipeline_->split_backward(),
                                  .tensor_parallel = tensor_part,
                                  .tensor_group = t->tensor_parallel_.get(),
                                  .sequence_parallel = c.parallel.sequence_parallel};
  // (Its weight pass reads no parameter — matmul_backward reads the weight only for dinp — so ZeRO-3 may release
  // them in between.)
  if (base_options.split_backward && c.parallel.recompute != Recompute::kNone) {
    return invalid_argument_error("train: parallel.schedule = \"zb-h1\" with parallel.recompute = \"{}\": its "
                                  "weight-gradient pass reads every kept activation; hint: recompute = \"none\"",
                                  recompute_name(c.parallel.recompute));
  }
  // What this rank will hold under the ZeRO stage (parallel/zero_memory.h); printed below.
  const auto memory = [&] {
    const ParameterLayout aligned(c.model, ShardLayout::unit_alignment(dp.size()), base_options.stage, tensor_part);
    MemoryReport report = zero_memory_report(
        training_memory_report(c.model, B, T, base_options, kernel_options.matmul_precision, kernel_threads()),
        aligned, dp.size(), zero_stage, c.parallel.overlap_comm, c.parallel.num_micro_batches(),
        kernel_options.matmul_precision, /*shared_memory_peers=*/dp.backend_name() == "shm");
    // The activations a stage sends and receives: B·T rows, or B·T/tp with sequence parallelism.
    report.workspace += t->pipeline_->buffer_bytes(1, c.parallel.sequence_parallel ? B * T / tp.size() : B * T,
                                                   c.model.n_embd);
    report.program = program_bytes;
    return report;
  };
  if (sizes_in_range) t->memory_report_ = memory();
  const double needed = sizes_in_range ? t->memory_report_.total() : GptModel::estimate_bytes(c.model, B, T, base_options);
  const double available = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
  if (!sizes_in_range || needed > available) {
    return invalid_argument_error(
        "train: the model (L={} C={} T={} V={}) with micro_batch {} needs ~{:.3g} GiB for parameters, gradients, "
        "AdamW state and activations; this machine has {:.3g} GiB; hint: a smaller model or train.micro_batch",
        c.model.n_layer, c.model.n_embd, c.model.seq_len, c.model.vocab_size, B, needed / (1 << 30),
        available / (1 << 30));
  }
  // Data first: a bad data directory fails before gigabytes of model state are allocated.
  if (t->options_.random_data) {
    t->train_data_ = make_random_token_source(T, c.model.vocab_size, static_cast<uint64_t>(c.seed), "loader.train");
    t->val_data_ = make_random_token_source(T, c.model.vocab_size, static_cast<uint64_t>(c.seed) + 1, "loader.val");
  } else {
    if (c.data_dir.empty()) {
      return invalid_argument_error("train: no data; hint: pass --data DIR (made by `tessera data prepare`)");
    }
    TESSERA_ASSIGN_OR_RETURN(t->train_data_, open_dataset_source(c.data_dir, "train", c.model, c.seed, true));
    auto val = open_dataset_source(c.data_dir, "val", c.model, c.seed, false);
    if (val.ok()) {
      t->val_data_ = std::move(*val);
    } else if (val.status().code() == StatusCode::kNotFound) {
      // A dataset prepared with --val-fraction 0 has no val split: train without validation.
      log_warning("train: {}; training without validation", val.status().message());
    } else {
      return val.status();
    }
  }
  // The data-parallel engine owns the flat parameter and gradient buffers and the optimizer; the model runs
  // on them and calls the engine unit by unit (parallel/data_parallel.h).
  const AdamWConfig adamw{.beta1 = static_cast<float>(c.beta1), .beta2 = static_cast<float>(c.beta2),
                          .eps = static_cast<float>(c.eps), .weight_decay = static_cast<float>(c.weight_decay)};
  TESSERA_ASSIGN_OR_RETURN(t->data_parallel_,
                           DataParallel::create(c.model, dp, *t->kernels_,
                                                {.zero_stage = zero_stage, .overlap = c.parallel.overlap_comm,
                                                 .adamw = adamw, .decay_all = c.decay_all,
                                                 .stage = base_options.stage,
                                                 .tensor_parallel = tensor_part,
                                                 .model_parallel = model_parallel}));
  t->model_ = std::make_unique<GptModel>(c.model, *t->kernels_, B, T, t->data_parallel_->model_options(base_options),
                                         t->data_parallel_->storage());
  t->data_parallel_->attach(*t->model_);
  t->pipeline_->attach(*t->model_, *t->data_parallel_);
  if (t->grid_.rank() == 0) {  // the start-up memory report, per rank
    log_info("{}{}", t->memory_report_.summary(c.parallel.recompute),
             dp.size() > 1 || zero_stage > 0 || pp.size() > 1 || tp.size() > 1
                 ? fmt::format(" (rank 0: dp {}, ZeRO-{}, overlap {}{}{})", dp.size(), zero_stage,
                               c.parallel.overlap_comm ? "on" : "off",
                               tp.size() > 1 ? fmt::format(", tensor slice 0 of {}{}", tp.size(),
                                                           c.parallel.sequence_parallel ? " with sequence parallelism" : "")
                                             : "",
                               pp.size() > 1 ? fmt::format(", pipeline stage 0 of {}", pp.size()) : "")
                 : "");
    if (pp.size() > 1) {
      log_info("pipeline: pp {}, schedule {}{}, {} micro-batches, layers per stage {}, up to {} micro-batch(es) in "
               "flight on stage 0{}",
               pp.size(), pipeline_schedule_name(c.parallel.schedule),
               c.parallel.vpp > 1 ? fmt::format(" with {} chunks per rank", c.parallel.vpp) : "",
               c.parallel.num_micro_batches(), stage_sizes_text(t->pipeline_->stage_layers()), t->pipeline_->slots(),
               c.parallel.vpp > 1 ? " per chunk" : "");
    }
  }
  t->data_parallel_->init_parameters(static_cast<uint64_t>(c.seed));
  t->schedule_ = LrSchedule{.max_lr = c.lr, .min_lr = c.min_lr, .warmup_steps = c.warmup_steps, .total_steps = c.steps};
  // Live metrics for Prometheus (train/prometheus_exporter.h), before the run directory: a taken port
  // changes nothing on disk.
  if (c.metrics_port > 0 && t->is_writer()) {
    TESSERA_ASSIGN_OR_RETURN(t->metrics_exporter_, PrometheusExporter::start(static_cast<int>(c.metrics_port)));
    log_info("metrics: Prometheus text on http://127.0.0.1:{}/metrics", c.metrics_port);
  }

  if (t->grid_.world_size() > 1) {
    // Sections of compute time per step (Trainer::step); every rank observes, rank 0 reports.
    t->stragglers_.emplace(std::vector<std::string>{"data", "forward", "backward+update"}, t->grid_.world_size());
  }
  for (const ProcessFault& fault : t->process_faults_) {
    if (fault.kind != ProcessFault::Kind::kBitflip) continue;
    if (c.parallel.zero_stage >= 3) {
      return invalid_argument_error("TESSERA_FAULT: bitflip needs full parameter replicas (parallel.zero_stage < 3), "
                                    "found parallel.zero_stage = {}", c.parallel.zero_stage);
    }
    // Named against the whole model on every rank; the rank it targets must hold it (its pipeline stage).
    const ParameterLayout whole_model(c.model);
    const auto& tensors = whole_model.tensors();
    const auto [moment, name] = split_moment_name(fault.tensor);
    const auto named = [&](const ParamTensor& p) { return p.name == name; };
    if (!fault.tensor.empty() && std::none_of(tensors.begin(), tensors.end(), named)) {
      return invalid_argument_error("TESSERA_FAULT: bitflip tensor '{}': not a parameter of this model; expected a "
                                    "name such as '{}', or 'optim.m.{}' / 'optim.v.{}' for its AdamW moments",
                                    fault.tensor, tensors.back().name, tensors.back().name, tensors.back().name);
    }
    const auto& held = t->model_->layout().tensors();
    if (!fault.tensor.empty() && fault.rank == t->grid_.rank() && std::none_of(held.begin(), held.end(), named)) {
      std::string layers;  // "2..2", or an interleaved rank's chunks "0..1, 4..5"
      for (const LayerRange& chunk : t->model_->layout().chunks()) {
        layers += fmt::format("{}{}..{}", layers.empty() ? "" : ", ", chunk.first, chunk.end - 1);
      }
      return invalid_argument_error("TESSERA_FAULT: bitflip tensor '{}': rank {} runs pipeline stage {} (layers {}), "
                                    "which does not hold it; hint: target the rank of its stage",
                                    fault.tensor, fault.rank, t->grid_.coord().pp, layers);
    }
    if (moment != nullptr && c.parallel.zero_stage != 0) {
      return invalid_argument_error("TESSERA_FAULT: bitflip tensor '{}': optimizer moments are replicated only at "
                                    "parallel.zero_stage = 0, found {}", fault.tensor, c.parallel.zero_stage);
    }
  }
  if (!t->options_.run_dir.empty()) {
    TESSERA_RETURN_IF_ERROR(t->open_run_dir());
    t->heartbeat_.emplace(t->options_.run_dir, t->grid_.rank(), /*start_step=*/t->step_);
    // A rank blocked on its peers says so in its heartbeat, naming them (comm/comm_stall.h).
    t->stall_notices_ = t->grid_.world().options().stall_notices;
    if (t->stall_notices_) {
      t->stall_notices_->set_listener([trainer = t.get()](const CommStall& stall) {
        std::vector<int> world_ranks;
        for (const int index : stall.missing) {
          const int rank = trainer->grid_.world_rank_of(stall.axis, index);
          if (rank >= 0) world_ranks.push_back(rank);
        }
        (void)trainer->heartbeat_->note_stall(stall, std::move(world_ranks));  // like a beat: best effort
      });
    }
  }
  if (!t->options_.trace_path.empty()) {
    // Rank 0's clock is every trace's 0 (one monotonic clock per host: the ranks of a host line up).
    double origin = now_seconds();
    TESSERA_RETURN_IF_ERROR(t->grid_.world().broadcast(&origin, sizeof(origin), 0).with_context("trace origin"));
    t->tracer_.emplace(t->grid_.coord().dp, t->grid_.coord().pp, origin);
    t->pipeline_->set_tracer(&*t->tracer_);
    t->data_parallel_->set_tracer(&*t->tracer_);
    t->tensor_parallel_->set_tracer(&*t->tracer_);
  }
  // Last, so that every rank probes its cores at about the same time, as they will compute.
  TESSERA_ASSIGN_OR_RETURN(t->mfu_peak_, resolve_mfu_peak(c, kernel_threads(), t->grid_.world()));
  return t;
}

// Every rank checks the run directory and loads the checkpoint; only the writer (rank 0) changes files.
Status Trainer::open_run_dir() {
  const std::string& dir = options_.run_dir;
  const std::string checkpoints = dir + "/checkpoints";
  if (is_writer()) {
    // One writer per run directory for the whole run, taken before anything in it is read or changed.
    TESSERA_RETURN_IF_ERROR(make_directories(dir));
    auto lock = FileLock::acquire(dir + "/lock");
    if (!lock.ok()) {
      return Status(lock.status().code(),
                    fmt::format("train: run directory '{}' is in use: {}; hint: wait for that run to end, or pass "
                                "--out NEW_DIR",
                                dir, lock.status().message()));
    }
    run_lock_.emplace(std::move(*lock));
    incidents_.emplace(dir);
  }
  if (config_.ckpt_in_memory_every > 0) {
    // Each rank's state in its host's memory, with a copy on its partner (resilience/memory_checkpoints.h);
    // a state saved under another layout is never loaded from memory (storage reshards it).
    const ParallelPlan& plan = config_.parallel;
    const std::string layout = fmt::format("world={} dp={} tp={} pp={} vpp={} zero={} sp={} schedule={}",
                                           grid_.world_size(), plan.dp, plan.tp, plan.pp, plan.vpp, plan.zero_stage,
                                           plan.sequence_parallel, pipeline_schedule_name(plan.schedule));
    TESSERA_ASSIGN_OR_RETURN(memory_checkpoints_,
                             MemoryCheckpoints::create(grid_.world(), memory_checkpoints_root(dir), layout,
                                                       /*fresh_run=*/!options_.resume));
    if (is_writer()) {
      log_info("checkpoints: in host memory every {} step(s) under {} (each rank's newest, a copy of it at its partner{}), "
               "in storage every {}",
               config_.ckpt_in_memory_every, memory_checkpoints_root(dir),
               memory_checkpoints_->partner() < 0 ? ": none with one rank"
               : memory_checkpoints_->partner_on_another_host() ? " on the next host" : " on this host",
               config_.ckpt_every);
    }
  }
  if (options_.resume) {
    TESSERA_RETURN_IF_ERROR(resume_from_latest());
  } else if (!list_checkpoints(checkpoints).empty()) {
    return failed_precondition_error(
        "train: run directory '{}' already has checkpoints; hint: pass --resume to continue it, or --out NEW_DIR", dir);
  }
  if (options_.resume && step_ == config_.steps) {
    if (is_writer()) log_info("resume: the run is already at train.steps = {}; nothing to do", step_);
    return Status();  // and nothing in the run directory changes
  }
  // Every rank writes its shards of each checkpoint and rank 0 commits it once all are durable
  // (ckpt/sharded_commit.h); the save id, rank 0's, tells this run's parts from a crashed run's.
  uint64_t save_id = static_cast<uint64_t>(::getpid()) << 32 ^
                     static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  TESSERA_RETURN_IF_ERROR(grid_.world().broadcast(&save_id, sizeof(save_id), 0).with_context("checkpoint save id"));
  const ShardedCommit sharding{.rank = grid_.rank(), .world_size = grid_.world_size(), .save_id = save_id,
                               .part_deadline_seconds = std::max(600.0, config_.parallel.comm_timeout_s)};
  const int keep = static_cast<int>(config_.keep_checkpoints);
  const auto make_checkpointer = [&] {
    checkpointer_ = std::make_unique<AsyncCheckpointer>(checkpoints, keep, CheckpointWriteOptions{}, sharding);
    checkpointer_->set_deferred_snapshot(true);  // copied while the next step computes; see step()
    checkpointer_->set_staging_budget(static_cast<uint64_t>(config_.ckpt_staging_mb) << 20);
  };
  if (!is_writer()) {
    make_checkpointer();
    return Status();
  }
  TESSERA_RETURN_IF_ERROR(make_directories(checkpoints));
  if (options_.resume) {
    TESSERA_ASSIGN_OR_RETURN(const auto dropped, truncate_metrics_log(dir + "/metrics.jsonl", step_));
    if (const auto it = dropped.find(step_ + 1); it != dropped.end()) replay_loss_ = it->second;
  } else {
    std::error_code ignored;
    std::filesystem::remove(dir + "/metrics.jsonl", ignored);  // a fresh run starts a fresh log
  }
  TESSERA_RETURN_IF_ERROR(write_file_atomic(dir + "/config.toml", config_.resolved_toml));
  TESSERA_ASSIGN_OR_RETURN(MetricsLog log, MetricsLog::open_append(dir + "/metrics.jsonl"));
  metrics_log_.emplace(std::move(log));
  make_checkpointer();  // rank 0's clears a crashed run's *.tmp directories: after the run directory is set up
  return Status();
}

StatusOr<std::optional<Trainer::OpenedCheckpoint>> Trainer::open_newest_checkpoint() {
  // The newest checkpoint that fully verifies, the same on every rank; newer bad ones are quarantined
  // (renamed aside, with one line and an incident each), never trusted (resilience/resume_checkpoint.h).
  TESSERA_ASSIGN_OR_RETURN(std::optional<CheckpointReader> stored,
                           open_resume_checkpoint(grid_.world(), options_.run_dir + "/checkpoints",
                                                  incidents_ ? &*incidents_ : nullptr));
  std::optional<OpenedCheckpoint> opened;
  if (stored) opened.emplace(OpenedCheckpoint{.reader = std::move(*stored)});
  if (memory_checkpoints_) {
    // A newer state in host memory wins: every rank's own, some perhaps sent back by their partners.
    std::optional<CheckpointReader> own;
    StatusOr<std::optional<MemoryRestore>> restoring = memory_checkpoints_->restore(&own);
    if (!restoring.ok() && restoring.status().code() != StatusCode::kDataLoss) return restoring.status();
    if (!restoring.ok() && is_writer()) log_warning("checkpoints: {}; using storage", restoring.status().message());
    const std::optional<MemoryRestore> restored = restoring.ok() ? *restoring : std::nullopt;
    if (restored && (!opened || restored->step > opened->reader.step())) {
      if (is_writer()) {
        log_info("checkpoints: step {} from host memory{}", restored->step,
                 restored->restored_from_copy.empty()
                     ? ""
                     : fmt::format(" (rank(s) {} from their partners' copies)", fmt::join(restored->restored_from_copy, ",")));
        if (!restored->restored_from_copy.empty()) {
          record_incident({.kind = "memory_restore_from_copy", .rank = restored->restored_from_copy.front(),
                           .step = restored->step,
                           .detail = fmt::format("rank(s) {} had no good own state in host memory; their partners sent "
                                                 "their copies", fmt::join(restored->restored_from_copy, ","))});
        }
      }
      opened.emplace(OpenedCheckpoint{.reader = std::move(*own), .rank_local = true});
    }
  }
  return opened;
}

Status Trainer::load_checkpoint(OpenedCheckpoint& opened, const char* why) {
  CheckpointReader& reader = opened.reader;
  const std::string& path = reader.path();
  const auto context = fmt::format("{} from '{}'", why, path);
  if (opened.rank_local) {
    RankLocalStateReader local(reader);
    TESSERA_RETURN_IF_ERROR(data_parallel_->load_state(local).with_context(context));
  } else {
    TESSERA_RETURN_IF_ERROR(data_parallel_->load_state(reader).with_context(context));
  }
  TESSERA_RETURN_IF_ERROR(train_data_->load_state(reader).with_context(context));
  TESSERA_ASSIGN_OR_RETURN(step_, reader.read_int("train.step"));
  (void)model_->params();  // writable once: the loaded parameters reach the bf16 weight copies
  const int64_t expected_sample = step_ * config_.parallel.resolved_global_batch();
  TESSERA_ASSIGN_OR_RETURN(const int64_t next_sample, reader.read_int("loader.train.next_sample"));
  if (next_sample != expected_sample) {
    return invalid_argument_error(
        "{}: the loader is at sample {} but step {} x global batch {} = {}; hint: keep train.global_batch as in "
        "the checkpointed run",
        context, next_sample, step_, config_.parallel.resolved_global_batch(), expected_sample);
  }
  return Status();
}

Status Trainer::resume_from_latest() {
  TESSERA_ASSIGN_OR_RETURN(std::optional<OpenedCheckpoint> opened, open_newest_checkpoint());
  if (!opened) {
    log_info("resume: no committed checkpoint in '{}/checkpoints'; starting from step 0", options_.run_dir);
    return Status();
  }
  const std::string latest = opened->reader.path();
  TESSERA_RETURN_IF_ERROR(load_checkpoint(*opened, "resume"));
  if (step_ > config_.steps) {
    return invalid_argument_error(
        "resume from '{}': the run is at step {}, past train.steps = {}; hint: pass --steps N with N > {} to "
        "continue it",
        latest, step_, config_.steps, step_);
  }
  if (options_.stop_at_step > 0 && options_.stop_at_step <= step_) {
    return invalid_argument_error("resume from '{}': --stop-at-step {} is not after the checkpoint's step {}",
                                  latest, options_.stop_at_step, step_);
  }
  log_info("resumed from '{}' at step {}", latest, step_);
  resumed_from_ = latest;
  return Status();
}

Status Trainer::save_memory_checkpoint() {
  // Everything this rank holds and every scalar a restore reads, on every rank: each restores alone.
  const bool first = memory_checkpoints_->last_save().step < 0;
  TESSERA_RETURN_IF_ERROR(memory_checkpoints_->save(step_, [this](StateWriter& writer) {
    data_parallel_->save_held_state(writer);
    writer.write_int("train.step", step_);
    train_data_->save_state(writer);
  }));
  if (first && is_writer()) {
    const MemorySaveStats& saved = memory_checkpoints_->last_save();
    log_info("checkpoints: in-memory save of step {}: {:.1f} MB of rank 0's state in {:.3f} s, of which {:.3f} s "
             "exchanging with its partner",
             saved.step, static_cast<double>(saved.bytes) / 1e6, saved.seconds, saved.exchange_seconds);
  }
  return Status();
}

Status Trainer::save_checkpoint(AsyncCheckpointer& checkpointer) {
  // Every rank writes its shards of the model and optimizer; rank 0 the scalars (and commits).
  return checkpointer.save(step_, [this](StateWriter& writer) {
    data_parallel_->save_state(writer);
    if (!is_writer()) return;
    writer.write_int("train.step", step_);
    writer.write_string("train.config", config_.resolved_toml);
    train_data_->save_state(writer);
  });
}

double Trainer::mfu(double tokens_per_s) const {
  // tokens_per_s counts the whole global batch, so the peak is every rank's (mfu_peak.h).
  return tokens_per_s * config_.model.train_flops_per_token(config_.model.seq_len) / (mfu_peak_.gflops * 1e9);
}

StatusOr<double> Trainer::dp_mean(double value) {
  Communicator& dp = grid_.group(GridAxis::kDp);
  TESSERA_RETURN_IF_ERROR(dp.all_reduce(&value, 1, ReduceOp::kSum));
  return value / dp.size();
}

StatusOr<StepMetrics> Trainer::step() {
  const Stopwatch watch;
  const int64_t micro_batches = config_.parallel.num_micro_batches();
  const int64_t B = config_.parallel.micro_batch;
  Communicator& dp = grid_.group(GridAxis::kDp);
  DataParallel& data_parallel = *data_parallel_;
  data_parallel.begin_step(micro_batches);
  if (abft_) {
    abft_->set_checking(config_.abft_check_every > 0 && (step_ + 1) % config_.abft_check_every == 0);
    if (!options_.run_dir.empty() &&
        take_due_fault(process_faults_, options_.run_dir, ProcessFault::Kind::kMatmul, grid_.rank(), step_ + 1)) {
      log_warning("fault injection: rank {} computes a wrong matmul output in step {} (TESSERA_FAULT)", grid_.rank(), step_ + 1);
      abft_->corrupt_next_matmul();
    }
  }
  double data_s = 0.0;  // this rank's reading time, for the straggler check
  // Global sample order: step, micro-batch, dp rank. Any layout of the same global batch reads the same
  // samples in the same steps.
  const MicroBatchReader read = [&](int64_t micro, int32_t* inputs, int32_t* targets) {
    const Stopwatch data_watch;
    const int64_t first_sample = (step_ * micro_batches + micro) * B * dp.size() + dp.rank() * B;
    train_data_->read_samples(first_sample, B, inputs, targets);
    data_s += data_watch.elapsed_seconds();
  };
  // TESSERA_FAULT slow: this rank computes longer (a straggler, for tests).
  const int64_t slow_ms = injected_slowdown_ms(process_faults_, grid_.rank(), step_ + 1);
  const Stopwatch slow_watch;
  if (slow_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms));
  const double slow_s = slow_watch.elapsed_seconds();
  // The forwards and backwards of every micro-batch, in the pipeline schedule's order; backward reduces (or
  // reduce-scatters) each unit's gradients as soon as they are complete.
  TESSERA_ASSIGN_OR_RETURN(const PipelineStepStats pipeline, pipeline_->run_step(read, data_parallel.loss_scale(micro_batches)));
  double loss = pipeline.loss;
  const double forward_s = slow_s + pipeline.forward_seconds - data_s;  // the reads happen inside the forwards
  const double backward_s = pipeline.backward_seconds;
  const double update_start = now_seconds();
  const Stopwatch update_watch;
  // A tensor-parallel collective that failed left this step's numbers stale: no update from them.
  TESSERA_RETURN_IF_ERROR(tensor_parallel_->status());
  const TensorParallelStepStats tensor = tensor_parallel_->take_step_stats();
  // The mean gradient over the global batch, clipped by its global norm (over the shards under ZeRO).
  TESSERA_RETURN_IF_ERROR(data_parallel.finish_gradients());
  TESSERA_RETURN_IF_ERROR(pipeline_->sum_tied_gradients(data_parallel));
  TESSERA_ASSIGN_OR_RETURN(const double grad_norm, data_parallel.clip_gradients(config_.grad_clip));
  TESSERA_ASSIGN_OR_RETURN(loss, dp_mean(loss));
  if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
    // Stop before the update: the parameters and the checkpoints on disk stay finite.
    return failed_precondition_error(
        "train: step {}: the run diverged (loss {}, gradient norm {}); parameters were not updated; hint: lower "
        "train.lr or set train.grad_clip, and resume from the last checkpoint",
        step_ + 1, loss, grad_norm);
  }
  const double lr = schedule_.lr(step_);
  // A checkpoint saved after the previous step copies the parameters and moments on its own thread while this
  // step computed; the update must not change them before that copy is done.
  if (checkpointer_) snapshot_wait_s_ += checkpointer_->wait_snapshot();
  TESSERA_RETURN_IF_ERROR(data_parallel.update(static_cast<float>(lr)));  // AdamW; under ZeRO-1/2 + all-gather
  ++step_;
  if (tracer_) tracer_->add("update " + std::to_string(step_), "optimizer", update_start, now_seconds());
  train_data_->seek(step_ * config_.parallel.resolved_global_batch());
  // Compute only: waiting for peers is the same for every rank of a synchronous step, so it is left out
  // (a straggler's peers wait for it; their totals would hide it).
  const double exposed = data_parallel.step_stats().exposed_comm_seconds + tensor.comm_seconds;
  step_sections_ = {data_s, forward_s, std::max(0.0, backward_s + update_watch.elapsed_seconds() - exposed)};

  StepMetrics m{.step = step_, .loss = loss, .lr = lr, .grad_norm = grad_norm};
  m.step_seconds = watch.elapsed_seconds();
  m.tokens_per_s = static_cast<double>(config_.tokens_per_step()) / m.step_seconds;
  m.mfu = mfu(m.tokens_per_s);
  m.mfu_peak_gflops = mfu_peak_.gflops;
  m.comm_exposed_s = exposed;
  m.comm_bytes = data_parallel.step_stats().comm_bytes + pipeline.p2p_bytes + tensor.comm_bytes;
  if (grid_.group(GridAxis::kPp).size() > 1) m.pipeline_bubble = pipeline.bubble_fraction;
  return m;
}

StatusOr<double> Trainer::evaluate() {
  // The validation set is the first eval_batches global batches of the val split, whatever the layout:
  // its micro-batch-sized chunks are dealt round-robin to the dp ranks (and run through the pipeline stages).
  const int64_t B = config_.parallel.micro_batch;
  const int64_t chunks = config_.eval_batches * config_.parallel.resolved_global_batch() / B;
  Communicator& dp = grid_.group(GridAxis::kDp);
  const int64_t mine = chunks > dp.rank() ? (chunks - dp.rank() + dp.size() - 1) / dp.size() : 0;
  const MicroBatchReader read = [&](int64_t k, int32_t* inputs, int32_t* targets) {
    val_data_->read_samples((dp.rank() + k * dp.size()) * B, B, inputs, targets);
  };
  TESSERA_ASSIGN_OR_RETURN(double total, pipeline_->evaluate(read, mine));
  TESSERA_RETURN_IF_ERROR(tensor_parallel_->status());
  TESSERA_RETURN_IF_ERROR(dp.all_reduce(&total, 1, ReduceOp::kSum));
  return total / static_cast<double>(chunks);
}

Status Trainer::run() {
  const bool show_progress = options_.show_progress && is_writer();
  ProgressReporter progress(config_.steps, config_.log_every, show_progress && ::isatty(2));
  const int64_t first_step = step_;
  const int64_t end_step = options_.stop_at_step > 0 ? std::min(options_.stop_at_step, config_.steps) : config_.steps;
  const Stopwatch run_watch;
  while (step_ < end_step) {
    TESSERA_ASSIGN_OR_RETURN(StepMetrics m, step());
    goodput_.add_step(m.step_seconds - snapshot_wait_s_);
    goodput_.add_checkpoint_stall(snapshot_wait_s_);  // the update waited for a checkpoint's copy
    snapshot_wait_s_ = 0;
    if (abft_) TESSERA_RETURN_IF_ERROR(check_abft(m));
    if (stragglers_) TESSERA_RETURN_IF_ERROR(check_stragglers());
    if (replay_loss_) TESSERA_RETURN_IF_ERROR(check_replayed_step(m.loss));
    if (const SpikeVerdict spike = spikes_.observe(step_, m.loss, m.grad_norm); spike.spike() && is_writer()) {
      log_warning("train: {}", spike.detail);
      record_incident({.kind = spike.loss_spike ? "loss_spike" : "grad_norm_spike", .rank = -1, .step = step_,
                       .detail = spike.detail});
    }
    TESSERA_ASSIGN_OR_RETURN(stop_signal_, agreed_stop_signal());
    const bool last = step_ == end_step;
    const bool stopping = stop_signal_ != 0;  // preempted: save now, evaluate later
    const bool save_now = checkpointer_ && (last || stopping || (config_.ckpt_every > 0 && step_ % config_.ckpt_every == 0));
    // In host memory when storage is not written this step (a stored checkpoint is as good to resume from).
    const bool save_in_memory = memory_checkpoints_ && !save_now && step_ % config_.ckpt_in_memory_every == 0;
    // Replicas are compared every replica_check_every steps and before every save: a corrupt state is
    // never committed, so the newest checkpoint is a state the replicas agreed on, and a divergence rolls
    // back to it and replays the steps since (m then holds this step's replayed metrics).
    if (config_.replica_check_every > 0 && (step_ % config_.replica_check_every == 0 || save_now || save_in_memory)) {
      TESSERA_RETURN_IF_ERROR(check_replicas(m));
    }
    if (val_data_ && !stopping && (last || (config_.eval_every > 0 && step_ % config_.eval_every == 0))) {
      const double eval_start = now_seconds();
      TESSERA_ASSIGN_OR_RETURN(m.val_loss, evaluate());
      if (tracer_) tracer_->add("evaluate " + std::to_string(step_), "eval", eval_start, now_seconds());
    }
    m.peak_rss_bytes = peak_rss_bytes();
    if (metrics_log_) TESSERA_RETURN_IF_ERROR(metrics_log_->write(m));
    if (metrics_exporter_) metrics_exporter_->publish(m);
    const double per_step = run_watch.elapsed_seconds() / static_cast<double>(step_ - first_step);
    if (show_progress) progress.update(m, per_step * static_cast<double>(config_.steps - step_));
    if (save_now || save_in_memory) {
      const Stopwatch stall;  // the snapshot copy (and a wait for the previous write): what the step loop pays
      const Status saved = save_now ? save_checkpoint(*checkpointer_) : save_memory_checkpoint();
      goodput_.add_checkpoint_stall(stall.elapsed_seconds());
      if (!saved.ok()) record_incident({.kind = "checkpoint_save_failed", .rank = grid_.rank(), .step = step_, .detail = saved.message()});
      TESSERA_RETURN_IF_ERROR(saved);
    }
    if (heartbeat_) {
      const Status beat = heartbeat_->beat(step_);
      if (!beat.ok() && !heartbeat_failed_) log_warning("{} (further heartbeat failures are not logged)", beat.message());
      heartbeat_failed_ = heartbeat_failed_ || !beat.ok();
      inject_process_fault(process_faults_, options_.run_dir, grid_.rank(), step_);
      if (const auto flip = take_due_fault(process_faults_, options_.run_dir, ProcessFault::Kind::kBitflip, grid_.rank(), step_)) {
        if (checkpointer_) checkpointer_->wait_snapshot();  // the flip must not reach the checkpoint being copied
        inject_bit_flip(*flip);
      }
    }
    if (stopping) break;
  }
  progress.finish();
  if (checkpointer_) {
    const Stopwatch stall;
    const Status written = checkpointer_->wait();
    goodput_.add_checkpoint_stall(stall.elapsed_seconds());
    if (!written.ok()) record_incident({.kind = "checkpoint_save_failed", .rank = grid_.rank(), .step = step_, .detail = written.message()});
    TESSERA_RETURN_IF_ERROR(written);
  }
  if (memory_checkpoints_ && step_ == config_.steps) {
    // The run is complete and stored: give the host memory back, once no rank writes there any more.
    TESSERA_RETURN_IF_ERROR(memory_checkpoints_->remove_all());
  }
  TESSERA_RETURN_IF_ERROR(write_trace());
  if (is_writer() && !options_.run_dir.empty() && step_ > first_step) {
    goodput_.wall_s = std::max(run_watch.elapsed_seconds(), goodput_.productive_step_s + goodput_.checkpoint_stall_s);
    TESSERA_RETURN_IF_ERROR(write_goodput(options_.run_dir, goodput_));
    log_info("{}", goodput_text_line(goodput_));
  }
  return Status();
}

Status Trainer::write_trace() {
  if (!tracer_ || trace_written_) return Status();
  trace_written_ = true;
  const std::string path = TraceRecorder::rank_path(options_.trace_path, grid_.rank(), grid_.world_size());
  TESSERA_RETURN_IF_ERROR(tracer_->write(path));
  if (is_writer()) {
    log_info("trace: {} spans in {}{} (open in ui.perfetto.dev or chrome://tracing)", tracer_->size(), path,
             grid_.world_size() > 1 ? " and the other ranks' files beside it" : "");
  }
  return Status();
}

Status Trainer::check_replayed_step(double loss) {
  const double logged = *replay_loss_;
  replay_loss_.reset();
  // The step's loss depends only on the restored parameters and the data position; the same state gives
  // the same loss (bit-identical on the same layout, within reduction-order noise on another).
  const double relative = std::abs(loss - logged) / std::max(std::abs(logged), 1e-30);
  if (relative <= 1e-5) return Status();
  const std::string quarantined = std::filesystem::path(resumed_from_).parent_path().string() + "/quarantine/" +
                                  std::filesystem::path(resumed_from_).filename().string() + ".restore_mismatch";
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(quarantined).parent_path(), ec);
  if (!std::filesystem::exists(quarantined, ec)) std::filesystem::rename(resumed_from_, quarantined, ec);
  const std::string detail = fmt::format(
      "step {} after resuming from '{}' has loss {} but the interrupted run logged {} (relative difference {:.2e}): "
      "the restored state is not what was saved; the checkpoint was moved to '{}'",
      step_, resumed_from_, loss, logged, relative, ec ? "(could not be moved: " + ec.message() + ")" : quarantined);
  record_incident({.kind = "restore_mismatch", .rank = -1, .step = step_, .detail = detail});
  return data_loss_error("train: {}; hint: resume again (from the previous checkpoint)", detail);
}

void Trainer::record_incident(Incident incident) {
  if (!incidents_) return;  // only rank 0 of a run with a run directory keeps the log
  const Status status = incidents_->append(std::move(incident));
  if (!status.ok()) log_warning("incident log: {}", status.message());
}

uint64_t Trainer::replica_fingerprint() const {
  ReplicaFingerprint fingerprint;
  const GptModel& model = *model_;  // const: reading does not mark the bf16 weight copies stale
  fingerprint.update(model.params(), static_cast<size_t>(model.num_params()));
  if (data_parallel_->zero_stage() == 0) {  // the AdamW moments are replicated too (sharded from stage 1)
    const AdamW& optimizer = data_parallel_->optimizer();
    fingerprint.update(optimizer.first_moments(), static_cast<size_t>(optimizer.moments_numel()));
    fingerprint.update(optimizer.second_moments(), static_cast<size_t>(optimizer.moments_numel()));
  }
  return fingerprint.digest();
}

Status Trainer::check_replicas(StepMetrics& m) {
  Communicator& dp = grid_.group(GridAxis::kDp);
  if (dp.size() < 2 || data_parallel_->zero_stage() >= 3) return Status();  // no two full replicas
  TESSERA_ASSIGN_OR_RETURN(const DivergenceReport report, find_divergent_replicas(dp, replica_fingerprint()));
  // Each pipeline stage compares its own replicas; all stages roll back together if any of them diverged.
  bool diverged = !report.agree();
  if (grid_.world_size() > dp.size()) {
    TESSERA_ASSIGN_OR_RETURN(const std::vector<int> flagged, ranks_flagging(grid_.world(), diverged, "replica check"));
    diverged = !flagged.empty();
  }
  if (!diverged) return Status();
  const int voted = report.divergent.size() == 1 && !report.ambiguous ? grid_.world_rank_of("dp", report.divergent[0]) : -1;
  return roll_back_and_replay("replica_divergence",
                              report.agree() ? "the replicas of another pipeline stage diverged" : report.describe(),
                              voted, m);
}

Status Trainer::check_abft(StepMetrics& m) {
  const AbftReport report = abft_->take_report();
  if (report.checked == 0) return Status();  // not a checked step: every rank knows it alike
  if (report.failed > 0) {
    log_warning("train: step {}: rank {}: {} of {} matmul checksums (ABFT) failed; the first: {}", step_, grid_.rank(),
                report.failed, report.checked, report.first_failure);
  }
  // Which ranks computed a wrong matmul: a compute fault is where it was seen, no vote needed.
  TESSERA_ASSIGN_OR_RETURN(const std::vector<int> failed,
                           ranks_flagging(grid_.world(), report.failed > 0, "ABFT"));
  if (failed.empty()) return Status();
  return roll_back_and_replay("abft_mismatch",
                              fmt::format("matmul checksums (ABFT) failed on rank(s) {}", fmt::join(failed, ",")),
                              failed.front(), m);
}

Status Trainer::roll_back_and_replay(const std::string& kind, const std::string& what, int detected_rank, StepMetrics& m) {
  Communicator& dp = grid_.group(GridAxis::kDp);
  const int64_t detected_at = step_;
  const auto world_rank = [&](int dp_rank) { return grid_.world_rank_of("dp", dp_rank); };
  const auto fail = [&](const std::string& why) {
    const std::string detail = fmt::format("{}; {}", what, why);
    record_incident({.kind = kind, .rank = detected_rank, .step = detected_at, .detail = detail});
    return data_loss_error(
        "train: step {}: {}: silent data corruption; nothing of this step was saved; hint: check that rank's host, "
        "then resume from the last checkpoint",
        detected_at, detail);
  };
  if (!checkpointer_) return fail("no checkpoint to roll back to (no run directory)");
  // Saves still being written were checked before they started: they are good states to go back to.
  TESSERA_RETURN_IF_ERROR(checkpointer_->wait());
  TESSERA_ASSIGN_OR_RETURN(std::optional<OpenedCheckpoint> reader, open_newest_checkpoint());
  if (!reader) return fail("no committed checkpoint to roll back to yet");
  // Replicas (ZeRO 0-2) compare what they held with what the replay computes, below.
  const bool replicas = data_parallel_->zero_stage() < 3;
  const uint64_t before = replicas ? replica_fingerprint() : 0;
  const Stopwatch replay_watch;
  TESSERA_RETURN_IF_ERROR(load_checkpoint(*reader, "roll back"));
  const int64_t from = step_;
  // The log holds each step once, as computed from a good state: drop the rows since the checkpoint and
  // write the replayed ones; the first dropped loss the replay does not reproduce dates the corruption.
  std::map<int64_t, double> logged;
  if (metrics_log_) {
    metrics_log_.reset();
    const std::string path = options_.run_dir + "/metrics.jsonl";
    TESSERA_ASSIGN_OR_RETURN(logged, truncate_metrics_log(path, from));
    TESSERA_ASSIGN_OR_RETURN(MetricsLog log, MetricsLog::open_append(path));
    metrics_log_.emplace(std::move(log));
  }
  int64_t first_changed_loss = -1;
  while (step_ < detected_at) {
    TESSERA_ASSIGN_OR_RETURN(m, step());
    if (const auto it = logged.find(step_); it != logged.end() && it->second != m.loss && first_changed_loss < 0) {
      first_changed_loss = step_;
    }
    if (step_ == detected_at) break;  // run() evaluates, logs and saves this one
    if (val_data_ && config_.eval_every > 0 && step_ % config_.eval_every == 0) {
      TESSERA_ASSIGN_OR_RETURN(m.val_loss, evaluate());
    }
    m.peak_rss_bytes = peak_rss_bytes();
    if (metrics_log_) TESSERA_RETURN_IF_ERROR(metrics_log_->write(m));
    if (heartbeat_) (void)heartbeat_->beat(step_);
  }
  std::string replay = fmt::format("rolled back to step {} ('{}') and replayed {} step(s) in {:.2f} s", from,
                                   reader->reader.path(), detected_at - from, replay_watch.elapsed_seconds());
  int blamed = detected_rank;
  if (replicas && dp.size() > 1) {
    // A rank whose state before the roll back is not what the replay computes held corrupt state: named
    // even with two replicas, where the vote cannot tell.
    const uint64_t replayed = replica_fingerprint();
    TESSERA_ASSIGN_OR_RETURN(std::vector<int> corrupt, ranks_flagging(dp, replayed != before, "roll back"));
    for (int& r : corrupt) r = world_rank(r);
    const int count = static_cast<int>(corrupt.size());
    // Corrupt parameters (or a wrong matmul) feed the gradients, and the all-reduce carries the effect to
    // every replica: then every state differs from its replay and the replay cannot name the rank.
    // Corruption that stays on its rank (optimizer moments, a fault in the update) leaves the others equal.
    replay += count == 0           ? std::string(": every rank's state equals its replay")
              : count == dp.size() ? std::string(": every rank's state differs from its replay (the corruption reached all "
                                                 "replicas through the gradient all-reduce; the replay cannot name the rank)")
                                   : fmt::format(": rank(s) {} held state that differs from its own replay", fmt::join(corrupt, ","));
    if (blamed < 0 && count == 1) blamed = corrupt.front();
    TESSERA_ASSIGN_OR_RETURN(const DivergenceReport again, find_divergent_replicas(dp, replayed));
    if (!again.agree()) {
      return fail(replay + fmt::format("; after the replay the replicas still differ ({}): a persistent fault", again.describe()));
    }
  }
  if (abft_ && abft_->take_report().failed > 0) {
    return fail(replay + "; the matmul checksums failed again in the replay: a persistent fault");
  }
  if (metrics_log_) {  // the writer, which holds the log
    replay += first_changed_loss < 0 ? std::string("; no logged loss changed")
                                     : fmt::format("; the first logged loss that changed is step {}'s", first_changed_loss);
  }
  const std::string detail = fmt::format("{}; {}", what, replay);
  record_incident({.kind = kind, .rank = blamed, .step = detected_at, .detail = detail});
  if (is_writer()) log_warning("train: step {}: {}; training continues", detected_at, detail);
  goodput_.add_lost_work(replay_watch.elapsed_seconds());
  return Status();
}

void Trainer::inject_bit_flip(const ProcessFault& flip) {
  // The middle element of the named tensor (or of the whole buffer), in the parameters or (optim.m.NAME,
  // optim.v.NAME; ZeRO-0, checked at create) in an AdamW moment at the same offsets. params(): taking the
  // parameters writable marks the bf16 weight copies stale, so they are refreshed from the flipped value.
  const auto [moment, name] = split_moment_name(flip.tensor);
  int64_t offset = 0, count = model_->num_params();
  for (const ParamTensor& tensor : model_->layout().tensors()) {
    if (tensor.name == name) offset = tensor.offset, count = tensor.numel;
  }
  AdamW& optimizer = data_parallel_->optimizer();
  float* buffer = moment == nullptr                 ? model_->params()
                  : std::string_view(moment) == "m" ? optimizer.first_moments()
                                                    : optimizer.second_moments();
  float* value = buffer + offset + count / 2;
  const float before = *value;
  flip_float_bit(value, flip.bit);
  log_warning("fault injection: rank {} flips bit {} of {}[{}] after step {} ({} -> {}) (TESSERA_FAULT)", grid_.rank(),
              flip.bit, flip.tensor.empty() ? "the parameters" : flip.tensor, count / 2, step_, before, *value);
}

Status Trainer::check_stragglers() {
  TESSERA_ASSIGN_OR_RETURN(const std::vector<SectionTimes> per_rank, gather_step_timings(grid_.world(), step_sections_));
  TESSERA_ASSIGN_OR_RETURN(const std::vector<StragglerReport> reports, stragglers_->observe(step_, per_rank));
  if (!is_writer()) return Status();
  for (const StragglerReport& report : reports) {
    log_warning("train: {}", report.describe());
    record_incident({.kind = "straggler", .rank = report.rank, .step = step_, .detail = report.describe()});
  }
  return Status();
}

StatusOr<int> Trainer::agreed_stop_signal() {
  if (options_.stop_signal == nullptr) return 0;
  // Ranks see a signal at different moments; all of them stop after the same step, or the ones that
  // went on would wait forever in the next step's collectives. The max over ranks: any rank's signal.
  double signal = options_.stop_signal->load();
  if (grid_.world_size() > 1) {
    TESSERA_RETURN_IF_ERROR(grid_.world().all_reduce(&signal, 1, ReduceOp::kMax).with_context("stop signal"));
  }
  return static_cast<int>(signal);
}

}  // namespace tessera

// Trainer: one rank's training loop — data, forward/backward over micro-batches in the pipeline schedule's order
// (parallel/pipeline_parallel.h; pp = 1: plain accumulation), gradient reduction over the data-parallel group
// (parallel/data_parallel.h), clipping, AdamW, evaluation, metrics and asynchronous checkpoints.
//
// Trainer::step reads top to bottom as the path of one step in docs/architecture.md. Everything the
// trainer owns is created in create(); a Trainer without a run directory (benchmarks) writes no files.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/ckpt/async_checkpointer.h"
#include "tessera/ckpt/checkpoint_reader.h"
#include "tessera/comm/process_grid.h"
#include "tessera/core/file_lock.h"
#include "tessera/core/trace_recorder.h"
#include "tessera/kernels/abft_backend.h"
#include "tessera/kernels/kernel_backend.h"
#include "tessera/model/gpt_model.h"
#include "tessera/model/memory_report.h"
#include "tessera/optim/lr_schedule.h"
#include "tessera/parallel/data_parallel.h"
#include "tessera/parallel/tensor_parallel.h"
#include "tessera/parallel/pipeline_parallel.h"
#include "tessera/resilience/goodput.h"
#include "tessera/resilience/heartbeat.h"
#include "tessera/resilience/incident_log.h"
#include "tessera/resilience/memory_checkpoints.h"
#include "tessera/resilience/process_fault.h"
#include "tessera/resilience/replica_fingerprint.h"
#include "tessera/resilience/spike_detector.h"
#include "tessera/resilience/straggler_detector.h"
#include "tessera/train/batch_source.h"
#include "tessera/train/metrics.h"
#include "tessera/train/prometheus_exporter.h"
#include "tessera/train/mfu_peak.h"
#include "tessera/train/progress.h"
#include "tessera/train/train_config.h"

namespace tessera {

struct TrainerOptions {
  std::string run_dir;       // config.toml, metrics.jsonl, checkpoints/; empty = write nothing
  bool resume = false;       // continue from the newest committed checkpoint in run_dir
  bool random_data = false;  // random token ids instead of config.data_dir (benchmarks)
  bool show_progress = true;
  // Stop (with a committed checkpoint) once this step is reached, without changing the LR schedule,
  // which still spans config.steps: how a run is split into resumable pieces. 0 = run to config.steps.
  int64_t stop_at_step = 0;
  // Set (to the signal's number) by a SIGTERM/SIGINT handler the caller owns; checked after every step,
  // agreed over all ranks. The trainer then finishes the step, commits a checkpoint and returns from run()
  // with stop_signal() != 0: how a scheduler's preemption loses no work. Null: not watched.
  const std::atomic<int>* stop_signal = nullptr;
  // --trace: write a Chrome/Perfetto trace of every step here when run() ends (core/trace_recorder.h; one
  // file per rank, TraceRecorder::rank_path). Empty: no trace.
  std::string trace_path;
};

class Trainer {
 public:
  // `grid` is this rank's place in the process grid; its shape must match config.parallel (data and pipeline
  // parallelism are built: tp = cp = 1). Rank 0 of the grid writes the run directory, metrics and the
  // checkpoints' commit; every rank writes its own shards of each checkpoint.
  static StatusOr<std::unique_ptr<Trainer>> create(TrainConfig config, TrainerOptions options,
                                                   ProcessGrid grid = ProcessGrid::single_process());
  ~Trainer();

  // Trains until config.steps, evaluating, logging and checkpointing on schedule; the final checkpoint is
  // committed before run() returns.
  Status run();
  // One optimizer step over the global batch (this rank's share of it — its stage of its dp replica's
  // micro-batches — gradients averaged over dp).
  StatusOr<StepMetrics> step();
  // Mean validation loss over the first config.eval_batches global batches of the val split: the same
  // samples whatever the dp layout or micro-batch (chunks dealt to the dp ranks).
  StatusOr<double> evaluate();

  int64_t current_step() const { return step_; }
  // The signal that ended run() early (after a committed checkpoint), or 0 if it ran to its end.
  int stop_signal() const { return stop_signal_; }
  const GptModel& model() const { return *model_; }
  // The data-parallel engine: gradient reduction, ZeRO sharding, the optimizer (parallel/data_parallel.h).
  DataParallel& data_parallel() { return *data_parallel_; }
  ProcessGrid& grid() { return grid_; }
  const TrainConfig& config() const { return config_; }
  // The peak MFU is measured against, and where it came from (probed or configured).
  const MfuPeak& mfu_peak() const { return mfu_peak_; }
  // What this rank was predicted to hold at start-up (model/memory_report.h under parallel/zero_memory.h).
  const MemoryReport& memory_report() const { return memory_report_; }

 private:
  Trainer(TrainConfig config, TrainerOptions options, ProcessGrid grid);
  bool is_writer() const { return grid_.rank() == 0; }
  // Mean over the data-parallel group of `value` (the identity on one rank).
  StatusOr<double> dp_mean(double value);
  Status open_run_dir();
  Status resume_from_latest();
  // A checkpoint to load: a stored one, or this rank's own state in host memory (rank-local shard names,
  // core/rank_local_state.h).
  struct OpenedCheckpoint {
    CheckpointReader reader;
    bool rank_local = false;
  };
  // Collective: the newest checkpoint that verifies, in storage or (train.ckpt_in_memory_every) host memory.
  StatusOr<std::optional<OpenedCheckpoint>> open_newest_checkpoint();
  // Loads the model, optimizer and loader state of `opened` and its step; `why` ("resume", "roll back")
  // prefixes errors.
  Status load_checkpoint(OpenedCheckpoint& opened, const char* why);
  Status save_checkpoint(AsyncCheckpointer& checkpointer);
  // Collective: this rank's whole state into host memory (resilience/memory_checkpoints.h).
  Status save_memory_checkpoint();
  double mfu(double tokens_per_s) const;
  // Every train.replica_check_every steps and before every save: the dp replicas' parameters (and, at
  // ZeRO-0, AdamW moments) must be bit-identical (ZeRO 0-2); else roll_back_and_replay.
  Status check_replicas(StepMetrics& m);
  // After a step whose matmuls were checked (train.abft_check_every): a failed checksum on any rank rolls
  // back and replays, naming that rank.
  Status check_abft(StepMetrics& m);
  // The fingerprint of what must be identical on every dp replica (resilience/replica_fingerprint.h).
  uint64_t replica_fingerprint() const;
  // Silent data corruption (`what`, seen by a detector that names `detected_rank`, or -1): every rank
  // reloads the newest checkpoint (checked before it was saved), replays the steps since and continues from
  // there; replicas whose state differs from their own replay are named too. One `kind` incident
  // (replica_divergence, abft_mismatch) and a log line. Errors (stop): no checkpoint yet, or the fault shows
  // again in the replay (a persistent fault). `m` becomes the replayed metrics of the current step.
  Status roll_back_and_replay(const std::string& kind, const std::string& what, int detected_rank, StepMetrics& m);
  // Gathers every rank's step sections and logs (rank 0) a rank persistently slower than the median.
  Status check_stragglers();
  // TESSERA_FAULT bitflip: flips the bit in this rank's parameters (silent data corruption, for tests).
  void inject_bit_flip(const ProcessFault& flip);
  void record_incident(Incident incident);
  // --trace: writes this rank's trace once (at the end of run(), or when the trainer goes after a failure).
  Status write_trace();
  // The first step after a resume against the interrupted run's log: a mismatch quarantines the checkpoint.
  Status check_replayed_step(double loss);
  // The stop signal seen by any rank (0 = none): collective over the world when there are several ranks.
  StatusOr<int> agreed_stop_signal();

  // Held by the writer for the trainer's whole life; declared first, so released last (after the
  // checkpointer's final commit in ~Trainer).
  std::optional<FileLock> run_lock_;
  TrainConfig config_;
  TrainerOptions options_;
  ProcessGrid grid_;
  std::unique_ptr<KernelBackend> kernels_;
  // kernels_ itself when it is wrapped for ABFT checksums (train.abft_check_every, or a matmul fault).
  AbftBackend* abft_ = nullptr;
  // The tensor-parallel axis (the model's group for its regions) and, with tp and pp both > 1, the group of
  // this dp replica's tp × pp ranks (the gradient norm sums over it); declared before the model: they outlive it.
  std::unique_ptr<TensorParallel> tensor_parallel_;
  std::unique_ptr<Communicator> model_parallel_group_;
  // Owns the model's flat buffers and the optimizer; declared before the model so that it outlives it.
  std::unique_ptr<DataParallel> data_parallel_;
  std::unique_ptr<GptModel> model_;
  // The pipeline axis (this rank's stage and the schedule); drives the model and the data-parallel hooks. Declared
  // after the model: it goes first, and its sends in flight read the model's activations.
  std::unique_ptr<PipelineParallel> pipeline_;
  std::optional<TraceRecorder> tracer_;  // --trace: spans of every step (written by run())
  bool trace_written_ = false;
  LrSchedule schedule_;
  std::unique_ptr<BatchSource> train_data_, val_data_;
  std::optional<MetricsLog> metrics_log_;
  std::unique_ptr<PrometheusExporter> metrics_exporter_;  // rank 0 with train.metrics_port > 0
  std::unique_ptr<AsyncCheckpointer> checkpointer_;  // deferred snapshots: step() waits for the copy before the update
  double snapshot_wait_s_ = 0;  // of the current step: the update waiting for a checkpoint's copy (goodput stall)
  // train.ckpt_in_memory_every > 0: checkpoints in host memory (resilience/memory_checkpoints.h).
  std::unique_ptr<MemoryCheckpoints> memory_checkpoints_;
  MfuPeak mfu_peak_;
  MemoryReport memory_report_;
  // After every step, for a supervisor (resilience/heartbeat.h); only with a run directory.
  std::optional<HeartbeatWriter> heartbeat_;
  bool heartbeat_failed_ = false;          // logged once
  // The process's stall notices (comm/comm_stall.h), forwarded into heartbeat_ while this trainer lives.
  std::shared_ptr<CommStallNotices> stall_notices_;
  std::vector<ProcessFault> process_faults_;  // TESSERA_FAULT kill/hang/bitflip entries (tests and demos)
  std::optional<IncidentLog> incidents_;      // rank 0 with a run directory: RUN_DIR/incidents.jsonl
  SpikeDetector spikes_;                      // loss and gradient-norm spikes (logged, recorded)
  // With several ranks: each rank's compute time per step section (data, forward, backward+update, without
  // waits for peers), gathered every step to find a rank persistently slower than the median.
  std::optional<StragglerDetector> stragglers_;
  SectionTimes step_sections_;
  GoodputSummary goodput_;                    // this process's run: RUN_DIR/goodput.json at the end
  // After a resume (rank 0): the loss the interrupted run logged for the first step after the checkpoint,
  // which the resumed run must reproduce (a bad restore does not), and the checkpoint it came from.
  std::optional<double> replay_loss_;
  std::string resumed_from_;
  int64_t step_ = 0;
  int stop_signal_ = 0;
};

}  // namespace tessera

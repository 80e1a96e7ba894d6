// TrainConfig: everything `tessera train` needs, read once from a TOML file plus --set overrides,
// validated once, and written back resolved (every key, its value and its doc) as RUN_DIR/config.toml.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/status.h"
#include "tessera/spec/model_spec.h"
#include "tessera/spec/parallel_plan.h"

namespace tessera {

class ConfigReader;

struct TrainConfig {
  ModelSpec model;        // [model]
  ParallelPlan parallel;  // [parallel] + train.micro_batch / train.global_batch

  // [train]
  int64_t steps = 100;            // optimizer steps in the whole run
  double lr = 6e-4;               // peak learning rate
  double min_lr = 6e-5;           // floor of the cosine decay
  int64_t warmup_steps = 10;      // linear warmup steps
  double weight_decay = 0.1;      // AdamW decoupled weight decay
  bool decay_all = false;         // decay biases and norm gains too (PyTorch-peer style)
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;         // max global gradient norm; 0 = off
  int64_t seed = 1337;            // parameter init and data order
  int64_t eval_every = 50;        // steps between validation passes; 0 = only at the end
  int64_t eval_batches = 8;       // global batches per validation pass (the first ones of the val split)
  int64_t ckpt_every = 50;        // steps between checkpoints; 0 = only at the end
  int64_t keep_checkpoints = 3;   // committed checkpoints kept; 0 = all
  // Steps between in-memory checkpoints: each rank's state in its host's /dev/shm (it outlives the job's
  // processes) and a copy at its partner on the next host (it outlives the host), so a restart loses at most
  // this many steps without reading storage; 0 = off (resilience/memory_checkpoints.h).
  int64_t ckpt_in_memory_every = 0;
  // Steps between steps whose every matmul is verified by ABFT column checksums (kernels/abft_backend.h);
  // a failure rolls back to the newest checkpoint and replays; 0 = off.
  int64_t abft_check_every = 0;
  // Steps between comparisons of the data-parallel replicas' parameter fingerprints (silent data corruption,
  // resilience/replica_fingerprint.h); 0 = never. Under ZeRO-3 no rank holds a full replica: not checked.
  int64_t replica_check_every = 50;
  int64_t log_every = 10;         // steps between plain log lines (not on a terminal)
  int64_t metrics_port = 0;       // live metrics for Prometheus on http://127.0.0.1:PORT/metrics; 0 = off
  std::string backend = "fast";   // kernel backend: fast | ref
  int64_t threads = 0;            // kernel threads; 0 = all cores
  // MFU's peak per thread; 0 = probe this machine at start-up (train/mfu_peak.h). The bf16 one is used
  // when parallel.precision = bf16, whose matmuls run at up to twice the fp32 rate.
  double peak_gflops_per_thread = 0.0;
  double peak_gflops_per_thread_bf16 = 0.0;

  // [data]
  std::string data_dir;           // a directory made by `tessera data prepare`

  // Resolved TOML (every key with its final value and doc).
  std::string resolved_toml;

  int64_t tokens_per_step() const { return parallel.resolved_global_batch() * model.seq_len; }
};

// Reads CONFIG.toml, applies "key=value" overrides, validates every field and rejects unknown keys.
StatusOr<TrainConfig> load_train_config(const std::string& path, const std::vector<std::string>& overrides);
// The same from a ConfigReader (tests, or configs that do not come from a file).
StatusOr<TrainConfig> read_train_config(ConfigReader& reader);

}  // namespace tessera

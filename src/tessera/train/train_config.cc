#include "tessera/train/train_config.h"

#include <cmath>
#include <utility>

#include "tessera/spec/config_reader.h"

namespace tessera {

StatusOr<TrainConfig> read_train_config(ConfigReader& r) {
  TrainConfig c;
  c.model = read_model_spec(r);
  c.parallel = read_parallel_plan(r);
  c.steps = r.get_int("train.steps", c.steps, "optimizer steps in the whole run");
  c.lr = r.get_double("train.lr", c.lr, "peak learning rate");
  c.min_lr = r.get_double("train.min_lr", c.min_lr, "floor of the cosine decay");
  c.warmup_steps = r.get_int("train.warmup_steps", c.warmup_steps, "linear warmup steps");
  c.weight_decay = r.get_double("train.weight_decay", c.weight_decay, "AdamW decoupled weight decay");
  c.decay_all = r.get_bool("train.decay_all", c.decay_all, "decay biases and norm gains too");
  c.beta1 = r.get_double("train.beta1", c.beta1, "AdamW beta1");
  c.beta2 = r.get_double("train.beta2", c.beta2, "AdamW beta2");
  c.eps = r.get_double("train.eps", c.eps, "AdamW epsilon");
  c.grad_clip = r.get_double("train.grad_clip", c.grad_clip, "max global gradient norm; 0 = off");
  c.seed = r.get_int("train.seed", c.seed, "parameter init and data order");
  c.eval_every = r.get_int("train.eval_every", c.eval_every, "steps between validation passes; 0 = at the end");
  c.eval_batches = r.get_int("train.eval_batches", c.eval_batches, "global batches per validation pass");
  c.ckpt_every = r.get_int("train.ckpt_every", c.ckpt_every, "steps between checkpoints; 0 = at the end");
  c.keep_checkpoints = r.get_int("train.keep_checkpoints", c.keep_checkpoints, "committed checkpoints kept; 0 = all");
  c.abft_check_every = r.get_int("train.abft_check_every", c.abft_check_every,
                                 "steps between steps whose matmuls are verified by ABFT checksums; 0 = off");
  c.ckpt_in_memory_every = r.get_int("train.ckpt_in_memory_every", c.ckpt_in_memory_every,
                                     "steps between in-memory checkpoints (each rank's state in /dev/shm, a copy at a partner on the next host); 0 = off");
  c.replica_check_every = r.get_int("train.replica_check_every", c.replica_check_every,
                                    "steps between replica fingerprint comparisons (silent data corruption); 0 = never");
  c.log_every = r.get_int("train.log_every", c.log_every, "steps between log lines when not on a terminal");
  c.metrics_port = r.get_int("train.metrics_port", c.metrics_port,
                             "serve live metrics for Prometheus on http://127.0.0.1:PORT/metrics (rank 0); 0 = off");
  c.backend = r.get_string("train.backend", c.backend, "kernel backend: fast | ref");
  c.threads = r.get_int("train.threads", c.threads, "kernel threads; 0 = all cores");
  c.peak_gflops_per_thread =
      r.get_double("train.peak_gflops_per_thread", c.peak_gflops_per_thread,
                   "fp32 peak per core for MFU, GFLOP/s; 0 = probe this machine at start-up");
  c.peak_gflops_per_thread_bf16 = r.get_double("train.peak_gflops_per_thread_bf16", c.peak_gflops_per_thread_bf16,
                                               "bf16 peak per core for MFU when parallel.precision = bf16; 0 = probe");
  c.data_dir = r.get_string("data.dir", c.data_dir, "directory made by `tessera data prepare`");

  r.require_positive("train.steps", c.steps);
  r.require_positive("train.eval_batches", c.eval_batches);
  r.require_positive("train.log_every", c.log_every);
  const struct {
    const char* key;
    int64_t value;
  } non_negative[] = {{"train.warmup_steps", c.warmup_steps}, {"train.eval_every", c.eval_every},
                      {"train.ckpt_every", c.ckpt_every},     {"train.keep_checkpoints", c.keep_checkpoints},
                      {"train.replica_check_every", c.replica_check_every},
                      {"train.ckpt_in_memory_every", c.ckpt_in_memory_every},
                      {"train.abft_check_every", c.abft_check_every},
                      {"train.threads", c.threads},           {"train.seed", c.seed}};
  for (const auto& field : non_negative) {
    if (field.value < 0) r.fail(field.key, "a non-negative integer", std::to_string(field.value));
  }
  if (c.metrics_port < 0 || c.metrics_port > 65535) {
    r.fail("train.metrics_port", "a TCP port in [1, 65535], or 0 (off)", std::to_string(c.metrics_port));
  }
  if (c.threads > 1024) r.fail("train.threads", "at most 1024 (0 = all cores)", std::to_string(c.threads));
  if (c.eval_batches > 100000) r.fail("train.eval_batches", "at most 100000", std::to_string(c.eval_batches));
  for (const auto& [key, value] : {std::pair{"train.lr", c.lr}, {"train.min_lr", c.min_lr},
                                   {"train.weight_decay", c.weight_decay}, {"train.eps", c.eps},
                                   {"train.grad_clip", c.grad_clip}, {"train.beta1", c.beta1},
                                   {"train.beta2", c.beta2}}) {
    if (!std::isfinite(value)) r.fail(key, "a finite number", std::to_string(value));
  }
  if (!(c.lr > 0)) r.fail("train.lr", "a positive number", std::to_string(c.lr));
  if (!(c.min_lr >= 0 && c.min_lr <= c.lr)) r.fail("train.min_lr", "a number in [0, train.lr]", std::to_string(c.min_lr));
  if (!(c.beta1 >= 0 && c.beta1 < 1)) r.fail("train.beta1", "a number in [0, 1)", std::to_string(c.beta1));
  if (!(c.beta2 >= 0 && c.beta2 < 1)) r.fail("train.beta2", "a number in [0, 1)", std::to_string(c.beta2));
  if (!(c.eps > 0)) r.fail("train.eps", "a positive number", std::to_string(c.eps));
  if (!(c.weight_decay >= 0)) r.fail("train.weight_decay", "a non-negative number", std::to_string(c.weight_decay));
  if (!(c.grad_clip >= 0)) r.fail("train.grad_clip", "a non-negative number (0 = off)", std::to_string(c.grad_clip));
  for (const auto& [key, value] : {std::pair{"train.peak_gflops_per_thread", c.peak_gflops_per_thread},
                                   {"train.peak_gflops_per_thread_bf16", c.peak_gflops_per_thread_bf16}}) {
    if (!(value >= 0 && std::isfinite(value))) r.fail(key, "a non-negative number (0 = probe)", std::to_string(value));
  }
  // fp8 is a layout the planner can predict; the trainer's kernels multiply in fp32 or bf16 only.
  if (c.parallel.precision == Precision::kFp8) {
    r.fail("parallel.precision", "\"fp32\" or \"bf16\" for training (fp8 is for `tessera plan` only)", "\"fp8\"");
  }
  if (c.backend != "fast" && c.backend != "ref") r.fail("train.backend", "\"fast\" or \"ref\"", "\"" + c.backend + "\"");

  TESSERA_RETURN_IF_ERROR(r.status());
  TESSERA_RETURN_IF_ERROR(r.check_no_unknown_keys());
  TESSERA_RETURN_IF_ERROR(c.model.validate().with_context("config '" + r.origin() + "'"));
  TESSERA_RETURN_IF_ERROR(c.parallel.validate(c.model, 0).with_context("config '" + r.origin() + "'"));
  c.resolved_toml = r.resolved_toml();
  return c;
}

StatusOr<TrainConfig> load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  TESSERA_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::from_file(path));
  for (const std::string& assignment : overrides) TESSERA_RETURN_IF_ERROR(reader.apply_override(assignment));
  return read_train_config(reader);
}

}  // namespace tessera

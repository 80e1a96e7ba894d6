// PrometheusExporter: a training run's latest StepMetrics as a Prometheus scrape target (text exposition
// format 0.0.4) on http://127.0.0.1:PORT/metrics — loopback only, off unless train.metrics_port is set.
//
// The trainer publish()es each step's metrics (next to the metrics.jsonl line); an httplib server thread of
// the exporter's own answers scrapes from a copy taken under a mutex, so a scrape never waits for a step.
// Exposed (gauges unless noted): tessera_train_step, tessera_train_loss, tessera_train_val_loss (the last
// evaluation's, once there was one), tessera_train_tokens_per_second, tessera_train_mfu (0..1),
// tessera_train_learning_rate, tessera_train_grad_norm, tessera_train_step_seconds,
// tessera_train_tokens_total (counter: tokens trained since this process started),
// tessera_train_peak_rss_bytes, process_resident_memory_bytes (read at scrape time), and
// tessera_train_last_step_timestamp_seconds.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tessera/core/status.h"
#include "tessera/train/metrics.h"

namespace tessera {

class PrometheusExporter {
 public:
  // Listens on 127.0.0.1:port (1..65535). Fails naming the port when it cannot be bound.
  static StatusOr<std::unique_ptr<PrometheusExporter>> start(int port);
  ~PrometheusExporter();  // stops the server and joins its thread
  PrometheusExporter(const PrometheusExporter&) = delete;
  PrometheusExporter& operator=(const PrometheusExporter&) = delete;

  void publish(const StepMetrics& metrics);
  int port() const;

  // The exposition text for `latest` (nullopt: no step yet), `last_val_loss`, `tokens_total` trained so
  // far, the process's current RSS and the time of the last step (Unix seconds).
  static std::string render(const std::optional<StepMetrics>& latest, std::optional<double> last_val_loss,
                            double tokens_total, int64_t rss_bytes, double last_step_unix_seconds);

 private:
  struct Impl;
  explicit PrometheusExporter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera

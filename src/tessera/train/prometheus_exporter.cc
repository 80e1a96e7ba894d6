#include "tessera/train/prometheus_exporter.h"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

namespace tessera {

std::string PrometheusExporter::render(const std::optional<StepMetrics>& latest, std::optional<double> last_val_loss,
                                       double tokens_total, int64_t rss_bytes, double last_step_unix_seconds) {
  std::string out;
  auto metric = [&out](const char* name, const char* type, const char* help, double value) {
    // The exposition format spells the non-finite values NaN, +Inf and -Inf.
    const std::string text = std::isnan(value) ? "NaN"
                             : std::isinf(value) ? (value > 0 ? "+Inf" : "-Inf")
                                                 : fmt::format("{}", value);
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, text);
  };
  if (latest) {
    const StepMetrics& m = *latest;
    metric("tessera_train_step", "gauge", "Optimizer steps completed.", static_cast<double>(m.step));
    metric("tessera_train_loss", "gauge", "Mean training loss of the last step's global batch.", m.loss);
    if (last_val_loss) metric("tessera_train_val_loss", "gauge", "Validation loss of the last evaluation.", *last_val_loss);
    metric("tessera_train_tokens_per_second", "gauge", "Training tokens per second of the last step (whole job).",
           m.tokens_per_s);
    metric("tessera_train_mfu", "gauge", "Model FLOPs utilisation of the last step, 0..1.", m.mfu);
    metric("tessera_train_learning_rate", "gauge", "Learning rate of the last step.", m.lr);
    metric("tessera_train_grad_norm", "gauge", "Global gradient norm of the last step, before clipping.", m.grad_norm);
    metric("tessera_train_step_seconds", "gauge", "Wall time of the last step.", m.step_seconds);
    metric("tessera_train_tokens_total", "counter", "Tokens trained since this process started.", tokens_total);
    metric("tessera_train_peak_rss_bytes", "gauge", "Peak resident set size of this process.",
           static_cast<double>(m.peak_rss_bytes));
    metric("tessera_train_last_step_timestamp_seconds", "gauge", "Unix time of the last completed step.",
           last_step_unix_seconds);
  }
  metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", static_cast<double>(rss_bytes));
  return out;
}

struct PrometheusExporter::Impl {
  httplib::Server http;
  std::thread listener;
  int port = 0;
  std::mutex mutex;  // guards the four below
  std::optional<StepMetrics> latest;
  std::optional<double> last_val_loss;
  double tokens_total = 0.0;
  double last_step_unix_seconds = 0.0;
};

PrometheusExporter::PrometheusExporter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PrometheusExporter::~PrometheusExporter() {
  impl_->http.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

StatusOr<std::unique_ptr<PrometheusExporter>> PrometheusExporter::start(int port) {
  if (port < 1 || port > 65535) return invalid_argument_error("train.metrics_port: {} is outside [1, 65535]", port);
  auto impl = std::make_unique<Impl>();
  Impl* raw = impl.get();
  // SO_REUSEADDR only (httplib's default adds SO_REUSEPORT, which would let two runs share a port).
  raw->http.set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  raw->http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  raw->http.Get("/metrics", [raw](const httplib::Request&, httplib::Response& res) {
    std::string text;
    {
      std::lock_guard lock(raw->mutex);
      text = render(raw->latest, raw->last_val_loss, raw->tokens_total, current_rss_bytes(),
                    raw->last_step_unix_seconds);
    }
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });
  if (!raw->http.bind_to_port("127.0.0.1", port)) {
    return unavailable_error("train.metrics_port: cannot listen on 127.0.0.1:{}; hint: another process uses the "
                             "port, choose another or 0 (off)",
                             port);
  }
  raw->port = port;
  raw->listener = std::thread([raw] { raw->http.listen_after_bind(); });
  while (!raw->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<PrometheusExporter>(new PrometheusExporter(std::move(impl)));
}

void PrometheusExporter::publish(const StepMetrics& metrics) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::lock_guard lock(impl_->mutex);
  impl_->latest = metrics;
  if (metrics.val_loss) impl_->last_val_loss = metrics.val_loss;
  impl_->tokens_total += metrics.tokens_per_s * metrics.step_seconds;
  impl_->last_step_unix_seconds = now;
}

int PrometheusExporter::port() const { return impl_->port; }

}  // namespace tessera

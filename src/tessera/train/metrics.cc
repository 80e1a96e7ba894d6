#include "tessera/train/metrics.h"

#include <unistd.h>

#include <cstdio>

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <utility>

#include "tessera/core/file.h"

namespace tessera {

std::string step_metrics_to_json(const StepMetrics& m) {
  nlohmann::json j = {{"step", m.step},
                      {"loss", m.loss},
                      {"lr", m.lr},
                      {"grad_norm", m.grad_norm},
                      {"step_seconds", m.step_seconds},
                      {"tokens_per_s", m.tokens_per_s},
                      {"mfu", m.mfu},
                      {"mfu_peak_gflops", m.mfu_peak_gflops},
                      {"comm_exposed_s", m.comm_exposed_s},
                      {"comm_bytes", m.comm_bytes}};
  if (m.pipeline_bubble) j["pipeline_bubble"] = *m.pipeline_bubble;
  if (m.val_loss) j["val_loss"] = *m.val_loss;
  if (m.peak_rss_bytes > 0) j["peak_rss_bytes"] = m.peak_rss_bytes;
  return j.dump();
}

int64_t current_rss_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  long size = 0, resident = 0;
  const int read = std::fscanf(statm, "%ld %ld", &size, &resident);
  std::fclose(statm);
  return read == 2 ? static_cast<int64_t>(resident) * ::sysconf(_SC_PAGESIZE) : 0;
}

int64_t peak_rss_bytes() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // ru_maxrss is in KiB on Linux
}

StatusOr<std::map<int64_t, double>> truncate_metrics_log(const std::string& path, int64_t step) {
  std::map<int64_t, double> dropped;
  auto text = read_file(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return dropped;
    return text.status();
  }
  std::string kept;
  size_t start = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) break;  // a torn last line (crash mid-write) is dropped
    const std::string line = text->substr(start, end - start);
    start = end + 1;
    const nlohmann::json row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_object() && row.contains("step") && row["step"].is_number_integer() &&
        row["step"].get<int64_t>() <= step) {
      kept += line + "\n";
    } else if (row.is_object() && row.contains("step") && row["step"].is_number_integer() && row.contains("loss") &&
               row["loss"].is_number()) {
      dropped[row["step"].get<int64_t>()] = row["loss"].get<double>();
    }
  }
  TESSERA_RETURN_IF_ERROR(write_file_atomic(path, kept));
  return dropped;
}

StatusOr<MetricsLog> MetricsLog::open_append(const std::string& path) {
  MetricsLog log;
  log.file_ = std::fopen(path.c_str(), "a");
  if (log.file_ == nullptr) return io_error("cannot open metrics log '{}' for appending", path);
  log.path_ = path;
  return log;
}

MetricsLog::MetricsLog(MetricsLog&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)), path_(std::move(other.path_)) {}

MetricsLog& MetricsLog::operator=(MetricsLog&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) std::fclose(file_);
    file_ = std::exchange(other.file_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

Status MetricsLog::write(const StepMetrics& metrics) {
  const std::string line = step_metrics_to_json(metrics) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    return io_error("cannot write metrics log '{}'", path_);
  }
  return Status();
}

}  // namespace tessera

#include "tessera/resilience/incident_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tessera/core/file.h"
#include "tessera/core/log.h"

namespace tessera {

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string incident_to_json(const Incident& incident) {
  const nlohmann::json line = {{"time_unix_s", incident.time_unix_s}, {"kind", incident.kind},
                               {"rank", incident.rank},               {"step", incident.step},
                               {"detection_s", incident.detection_s}, {"time_lost_s", incident.time_lost_s},
                               {"detail", incident.detail}};
  // Replace invalid UTF-8 in free-form text (an OS error message, a path) instead of throwing.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

StatusOr<Incident> incident_from_json(std::string_view line) {
  const nlohmann::json json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return data_loss_error("incident: not a JSON object");
  Incident incident;
  auto number = [&](const char* key, double* out) -> Status {
    if (!json.contains(key) || !json[key].is_number()) return data_loss_error("incident: '{}' missing or not a number", key);
    *out = json[key].get<double>();
    return Status();
  };
  auto integer = [&](const char* key, int64_t* out) -> Status {
    if (!json.contains(key) || !json[key].is_number_integer()) {
      return data_loss_error("incident: '{}' missing or not an integer", key);
    }
    *out = json[key].get<int64_t>();
    return Status();
  };
  auto text = [&](const char* key, std::string* out) -> Status {
    if (!json.contains(key) || !json[key].is_string()) return data_loss_error("incident: '{}' missing or not a string", key);
    *out = json[key].get<std::string>();
    return Status();
  };
  int64_t rank = 0;
  TESSERA_RETURN_IF_ERROR(number("time_unix_s", &incident.time_unix_s));
  TESSERA_RETURN_IF_ERROR(text("kind", &incident.kind));
  TESSERA_RETURN_IF_ERROR(integer("rank", &rank));
  TESSERA_RETURN_IF_ERROR(integer("step", &incident.step));
  TESSERA_RETURN_IF_ERROR(number("detection_s", &incident.detection_s));
  TESSERA_RETURN_IF_ERROR(number("time_lost_s", &incident.time_lost_s));
  TESSERA_RETURN_IF_ERROR(text("detail", &incident.detail));
  incident.rank = static_cast<int>(rank);
  return incident;
}

IncidentLog::IncidentLog(std::string run_dir) : path_(run_dir + "/" + std::string(kIncidentLogFileName)) {}

Status IncidentLog::append(Incident incident) {
  if (incident.kind.empty()) return invalid_argument_error("incident log '{}': an incident needs a kind", path_);
  if (incident.time_unix_s == 0) incident.time_unix_s = unix_now();
  const std::string line = incident_to_json(incident) + "\n";
  const std::string dir = path_.substr(0, path_.rfind('/'));
  TESSERA_RETURN_IF_ERROR(make_directories(dir));
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot open incident log '{}': {}", path_, std::strerror(errno));
  // One write: O_APPEND makes it atomic with respect to other appenders for a regular file.
  const ssize_t n = ::write(fd, line.data(), line.size());
  const int write_errno = errno;
  const bool synced = n == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  const int sync_errno = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    return io_error("cannot append to incident log '{}': {}", path_,
                    n < 0 ? std::strerror(write_errno) : "short write");
  }
  if (!synced) return io_error("cannot fsync incident log '{}': {}", path_, std::strerror(sync_errno));
  return Status();
}

StatusOr<std::vector<Incident>> read_incidents(const std::string& path) {
  std::vector<Incident> incidents;
  if (!path_exists(path)) return incidents;
  TESSERA_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  size_t start = 0;
  int line_number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    auto incident = incident_from_json(line);
    if (!incident.ok()) {
      log_warning("incident log '{}': skipping line {}: {}", path, line_number, incident.status().message());
      continue;
    }
    incidents.push_back(std::move(incident).value());
  }
  return incidents;
}

}  // namespace tessera

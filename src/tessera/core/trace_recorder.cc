#include "tessera/core/trace_recorder.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tessera/core/file.h"

namespace tessera {

namespace {
constexpr int kCommTrackOffset = 1000;
}  // namespace

void TraceRecorder::add(std::string name, std::string category, double start_s, double end_s, Track track) {
  spans_.push_back({std::move(name), std::move(category), start_s, end_s, track});
}

std::string TraceRecorder::to_json() const {
  nlohmann::json events = nlohmann::json::array();
  const int comm_tid = kCommTrackOffset + tid_;
  for (const auto& [tid, label] : {std::pair{tid_, "compute"}, std::pair{comm_tid, "communication"}}) {
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", pid_}, {"tid", tid},
                      {"args", {{"name", fmt::format("pipeline rank {} {}", tid_, label)}}}});
  }
  for (const Span& s : spans_) {
    events.push_back({{"name", s.name},
                      {"cat", s.category},
                      {"ph", "X"},
                      {"pid", pid_},
                      {"tid", s.track == Track::kCompute ? tid_ : comm_tid},
                      {"ts", (s.start_s - origin_s_) * 1e6},
                      {"dur", (s.end_s - s.start_s) * 1e6}});
  }
  return nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump();
}

Status TraceRecorder::write(const std::string& path) const {
  return write_file_atomic(path, to_json()).with_context("--trace");
}

std::string TraceRecorder::rank_path(const std::string& path, int rank, int world) {
  if (world <= 1) return path;
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  const bool has_extension = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  const std::string tag = ".rank" + std::to_string(rank);
  return has_extension ? path.substr(0, dot) + tag + path.substr(dot) : path + tag;
}

}  // namespace tessera

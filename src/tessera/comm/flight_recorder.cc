#include "tessera/comm/flight_recorder.h"

#include <filesystem>
#include <fstream>

namespace tessera {

FlightRecorder::FlightRecorder(int capacity)
    : origin_(std::chrono::steady_clock::now()), ring_(static_cast<size_t>(std::max(1, capacity))) {}

int64_t FlightRecorder::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - origin_).count();
}

uint64_t FlightRecorder::begin(CommOpKind op, uint64_t seq, int peer, int64_t bytes, DataType dtype) {
  std::lock_guard lock(mutex_);
  const uint64_t id = next_id_++;
  ring_[id % ring_.size()] = FlightEntry{
      .id = id, .seq = seq, .op = op, .peer = peer, .bytes = bytes, .dtype = dtype, .start_us = now_us()};
  return id;
}

void FlightRecorder::end(uint64_t id, const Status& status) {
  std::lock_guard lock(mutex_);
  FlightEntry& entry = ring_[id % ring_.size()];
  if (entry.id != id || entry.end_us >= 0) return;
  entry.end_us = now_us();
  entry.state = status.ok() ? FlightEntry::State::kOk : FlightEntry::State::kError;
  if (!status.ok()) entry.message = status.message();
}

std::vector<FlightEntry> FlightRecorder::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<FlightEntry> out;
  const uint64_t capacity = ring_.size();
  const uint64_t first = next_id_ > capacity ? next_id_ - capacity : 0;
  for (uint64_t id = first; id < next_id_; ++id) out.push_back(ring_[id % capacity]);
  return out;
}

std::string FlightRecorder::format(const std::string& axis, int rank, int size, const std::string& backend,
                                   const Status& reason) const {
  std::string text = fmt::format("tessera flight recorder axis={} rank={}/{} backend={} reason: {}\n", axis, rank,
                                 size, backend, reason.ok() ? std::string("ok") : reason.message());
  for (const FlightEntry& e : snapshot()) {
    const char* state = e.state == FlightEntry::State::kPending ? "pending"
                        : e.state == FlightEntry::State::kOk    ? "ok"
                                                                : "error";
    text += fmt::format("#{} {} peer={} bytes={} dtype={} start_us={} end_us={} state={}", e.seq, comm_op_name(e.op),
                        e.peer < 0 ? std::string("-") : std::to_string(e.peer), e.bytes, dtype_name(e.dtype),
                        e.start_us, e.end_us < 0 ? std::string("-") : std::to_string(e.end_us), state);
    if (!e.message.empty()) text += " " + e.message;
    text += "\n";
  }
  return text;
}

StatusOr<std::string> FlightRecorder::dump(const std::string& dir, const std::string& axis, int rank, int size,
                                           const std::string& backend, const Status& reason) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("flight recorder: cannot create directory '{}': {}", dir, ec.message());
  const std::string path = fmt::format("{}/flight_{}_rank{}.txt", dir, axis, rank);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << format(axis, rank, size, backend, reason);
    if (!out.flush()) return io_error("flight recorder: cannot write '{}'", tmp);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return io_error("flight recorder: cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  return path;
}

}  // namespace tessera

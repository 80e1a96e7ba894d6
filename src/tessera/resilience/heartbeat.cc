#include "tessera/resilience/heartbeat.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tessera {

namespace {
double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

std::string this_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

HeartbeatWriter::HeartbeatWriter(const std::string& run_dir, int rank, int64_t start_step)
    : dir_(run_dir + "/heartbeats"),
      path_(fmt::format("{}/rank_{:05d}.json", dir_, rank)),
      tmp_path_(path_ + ".tmp"),
      host_(this_host_name()),
      rank_(rank),
      start_step_(start_step) {}

Status HeartbeatWriter::beat(int64_t step, bool final) {
  std::lock_guard lock(mutex_);
  step_ = step;
  step_time_unix_s_ = unix_now();
  final_ = final;
  beaten_ = true;
  return write_locked();
}

Status HeartbeatWriter::note_stall(const CommStall& stall, std::vector<int> world_ranks) {
  std::lock_guard lock(mutex_);
  std::erase_if(waiting_, [&](const HeartbeatWait& w) { return w.axis == stall.axis && w.seq == stall.seq; });
  if (!stall.ended) {
    waiting_.push_back({.axis = stall.axis, .op = comm_op_name(stall.op), .seq = stall.seq,
                        .for_ranks = std::move(world_ranks), .since_unix_s = unix_now()});
  }
  return beaten_ ? write_locked() : Status();
}

Status HeartbeatWriter::write_locked() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  nlohmann::json j = {{"rank", rank_}, {"pid", static_cast<int64_t>(::getpid())}, {"host", host_},
                      {"step", step_}, {"time_unix_s", step_time_unix_s_}, {"start_step", start_step_},
                      {"final", final_}};
  if (!waiting_.empty()) {
    nlohmann::json& waits = j["waiting"] = nlohmann::json::array();
    for (const HeartbeatWait& w : waiting_) {
      waits.push_back({{"axis", w.axis}, {"op", w.op}, {"seq", w.seq}, {"for_ranks", w.for_ranks},
                       {"since_unix_s", w.since_unix_s}});
    }
  }
  {
    std::ofstream out(tmp_path_, std::ios::trunc);
    out << j.dump() << "\n";
    if (!out) return io_error("heartbeat: cannot write '{}'", tmp_path_);
  }
  std::filesystem::rename(tmp_path_, path_, ec);
  if (ec) return io_error("heartbeat: cannot rename '{}' to '{}': {}", tmp_path_, path_, ec.message());
  return Status();
}

std::vector<Heartbeat> read_heartbeats(const std::string& run_dir) {
  std::vector<Heartbeat> beats;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir + "/heartbeats", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("rank_", 0) != 0 || entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("rank") || !j.contains("pid") || !j.contains("step") || !j.contains("time_unix_s")) {
      continue;
    }
    try {
      Heartbeat beat{.rank = j["rank"].get<int>(), .pid = j["pid"].get<int64_t>(),
                     .host = j.value("host", std::string()), .step = j["step"].get<int64_t>(),
                     .time_unix_s = j["time_unix_s"].get<double>(), .start_step = j.value("start_step", int64_t{-1}),
                     .final = j.value("final", false), .waiting = {}};
      if (j.contains("waiting")) {
        for (const nlohmann::json& w : j["waiting"]) {
          beat.waiting.push_back({.axis = w.at("axis").get<std::string>(), .op = w.at("op").get<std::string>(),
                                  .seq = w.at("seq").get<uint64_t>(), .for_ranks = w.at("for_ranks").get<std::vector<int>>(),
                                  .since_unix_s = w.at("since_unix_s").get<double>()});
        }
      }
      beats.push_back(std::move(beat));
    } catch (const nlohmann::json::exception&) {  // a field of the wrong type: not a heartbeat
    }
  }
  std::sort(beats.begin(), beats.end(), [](const Heartbeat& a, const Heartbeat& b) { return a.rank < b.rank; });
  return beats;
}

void clear_heartbeats(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::remove_all(run_dir + "/heartbeats", ec);
}

}  // namespace tessera

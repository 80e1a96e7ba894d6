#include "tessera/resilience/process_fault.h"

#include <signal.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "tessera/core/log.h"

namespace tessera {

namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    const size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

}  // namespace

StatusOr<std::vector<ProcessFault>> parse_process_faults(std::string_view value) {
  std::vector<ProcessFault> faults;
  for (const std::string_view entry : split(value, ';')) {
    const size_t colon = entry.find(':');
    const std::string_view kind = entry.substr(0, colon);
    static const std::map<std::string_view, ProcessFault::Kind> kKinds = {
        {"kill", ProcessFault::Kind::kKill}, {"hang", ProcessFault::Kind::kHang},
        {"bitflip", ProcessFault::Kind::kBitflip}, {"slow", ProcessFault::Kind::kSlow},
        {"matmul", ProcessFault::Kind::kMatmul}};
    const auto known = kKinds.find(kind);
    if (known == kKinds.end()) continue;
    const bool slow = known->second == ProcessFault::Kind::kSlow;
    const bool flip = known->second == ProcessFault::Kind::kBitflip;
    const char* expected = slow ? "rank=R,step=S,ms=M" : flip ? "rank=R,step=S[,bit=B][,tensor=NAME]" : "rank=R,step=S";
    ProcessFault fault{.kind = known->second, .rank = -1, .step = -1, .slow_ms = -1};
    if (colon != std::string_view::npos) {
      for (const std::string_view field : split(entry.substr(colon + 1), ',')) {
        const size_t eq = field.find('=');
        const std::string_view key = field.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view() : field.substr(eq + 1);
        if (flip && key == "tensor" && !value.empty()) {
          fault.tensor = std::string(value);
          continue;
        }
        int64_t parsed = -1;
        const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
        const bool known_key = key == "rank" || key == "step" || (slow && key == "ms") || (flip && key == "bit");
        if (error != std::errc() || end != value.data() + value.size() || parsed < 0 || !known_key ||
            (key == "bit" && parsed > 31)) {
          return invalid_argument_error(
              "TESSERA_FAULT: entry '{}': expected {} with non-negative integers (bit at most 31), found '{}'", entry,
              expected, field);
        }
        if (key == "rank") fault.rank = static_cast<int>(parsed);
        if (key == "step") fault.step = parsed;
        if (key == "ms") fault.slow_ms = parsed;
        if (key == "bit") fault.bit = static_cast<int>(parsed);
      }
    }
    if (fault.rank < 0 || fault.step < 0 || (slow && fault.slow_ms < 0)) {
      return invalid_argument_error("TESSERA_FAULT: entry '{}': expected all of {}", entry, expected);
    }
    faults.push_back(fault);
  }
  return faults;
}

StatusOr<std::vector<ProcessFault>> process_faults_from_environment() {
  const char* value = std::getenv("TESSERA_FAULT");
  if (value == nullptr) return std::vector<ProcessFault>{};
  return parse_process_faults(value);
}

namespace {

const char* fault_name(ProcessFault::Kind kind) {
  switch (kind) {
    case ProcessFault::Kind::kKill: return "kill";
    case ProcessFault::Kind::kHang: return "hang";
    case ProcessFault::Kind::kBitflip: return "bitflip";
    case ProcessFault::Kind::kSlow: return "slow";
    case ProcessFault::Kind::kMatmul: return "matmul";
  }
  return "fault";
}

// True the first time `fault` reaches this point in `run_dir` (it then leaves its marker file).
bool first_firing(const ProcessFault& fault, const std::string& run_dir) {
  const std::string dir = run_dir + "/faults";
  const std::string marker = fmt::format("{}/{}_rank{}_step{}", dir, fault_name(fault.kind), fault.rank, fault.step);
  std::error_code ec;
  if (std::filesystem::exists(marker, ec)) return false;  // fired before this restart
  std::filesystem::create_directories(dir, ec);
  std::ofstream(marker) << "fired\n";
  return true;
}

}  // namespace

void inject_process_fault(const std::vector<ProcessFault>& faults, const std::string& run_dir, int rank, int64_t step) {
  for (const ProcessFault& fault : faults) {
    const bool kill_or_hang = fault.kind == ProcessFault::Kind::kKill || fault.kind == ProcessFault::Kind::kHang;
    if (!kill_or_hang || fault.rank != rank || fault.step != step) continue;
    if (!first_firing(fault, run_dir)) continue;
    const bool kill = fault.kind == ProcessFault::Kind::kKill;
    log_warning("fault injection: rank {} {} after step {} (TESSERA_FAULT)", rank, kill ? "kills itself" : "hangs", step);
    // Neither signal runs a handler on this process, so no signal frame lands on a compute thread.
    ::raise(kill ? SIGKILL : SIGSTOP);
  }
}

std::optional<ProcessFault> take_due_fault(const std::vector<ProcessFault>& faults, const std::string& run_dir,
                                           ProcessFault::Kind kind, int rank, int64_t step) {
  for (const ProcessFault& fault : faults) {
    if (fault.kind != kind || fault.rank != rank || fault.step != step) continue;
    if (first_firing(fault, run_dir)) return fault;
  }
  return std::nullopt;
}

void flip_float_bit(float* value, int bit) {
  uint32_t bits = 0;
  std::memcpy(&bits, value, sizeof(bits));
  bits ^= 1u << bit;
  std::memcpy(value, &bits, sizeof(bits));
}

int64_t injected_slowdown_ms(const std::vector<ProcessFault>& faults, int rank, int64_t step) {
  int64_t ms = 0;
  for (const ProcessFault& fault : faults) {
    if (fault.kind == ProcessFault::Kind::kSlow && fault.rank == rank && step > fault.step) ms += fault.slow_ms;
  }
  return ms;
}

}  // namespace tessera

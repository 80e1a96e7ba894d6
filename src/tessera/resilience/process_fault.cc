#include "tessera/resilience/process_fault.h"

#include <signal.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>

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
    if (kind != "kill" && kind != "hang") continue;
    ProcessFault fault{.kind = kind == "kill" ? ProcessFault::Kind::kKill : ProcessFault::Kind::kHang, .rank = -1, .step = -1};
    if (colon != std::string_view::npos) {
      for (const std::string_view field : split(entry.substr(colon + 1), ',')) {
        const size_t eq = field.find('=');
        const std::string_view key = field.substr(0, eq);
        const std::string_view number = eq == std::string_view::npos ? std::string_view() : field.substr(eq + 1);
        int64_t parsed = -1;
        const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), parsed);
        if (error != std::errc() || end != number.data() + number.size() || parsed < 0 || (key != "rank" && key != "step")) {
          return invalid_argument_error("TESSERA_FAULT: entry '{}': expected rank=R,step=S with non-negative integers, found '{}'",
                                        entry, field);
        }
        if (key == "rank") fault.rank = static_cast<int>(parsed);
        if (key == "step") fault.step = parsed;
      }
    }
    if (fault.rank < 0 || fault.step < 0) {
      return invalid_argument_error("TESSERA_FAULT: entry '{}': expected both rank=R and step=S", entry);
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

void inject_process_fault(const std::vector<ProcessFault>& faults, const std::string& run_dir, int rank, int64_t step) {
  for (const ProcessFault& fault : faults) {
    if (fault.rank != rank || fault.step != step) continue;
    const bool kill = fault.kind == ProcessFault::Kind::kKill;
    const std::string dir = run_dir + "/faults";
    const std::string marker = fmt::format("{}/{}_rank{}_step{}", dir, kill ? "kill" : "hang", rank, step);
    std::error_code ec;
    if (std::filesystem::exists(marker, ec)) continue;  // fired before this restart
    std::filesystem::create_directories(dir, ec);
    std::ofstream(marker) << "fired\n";
    log_warning("fault injection: rank {} {} after step {} (TESSERA_FAULT)", rank, kill ? "kills itself" : "hangs", step);
    // Neither signal runs a handler on this process, so no signal frame lands on a compute thread.
    ::raise(kill ? SIGKILL : SIGSTOP);
  }
}

}  // namespace tessera

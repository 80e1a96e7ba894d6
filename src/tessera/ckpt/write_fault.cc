#include "tessera/ckpt/write_fault.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>

#include "tessera/ckpt/checkpoint_format.h"

namespace tessera {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

template <typename Int>
bool parse_int(std::string_view text, Int* value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

Status bad(std::string_view entry, std::string_view what, std::string_view found) {
  return invalid_argument_error("{}: entry '{}': {}, found '{}'", kFaultEnvVar, entry, what, found);
}

StatusOr<WriteFault> parse_entry(std::string_view entry, std::string_view body) {
  WriteFault fault;
  while (!body.empty()) {
    const size_t comma = body.find(',');
    const std::string_view pair = trim(body.substr(0, comma));
    body = comma == std::string_view::npos ? std::string_view() : body.substr(comma + 1);
    if (pair.empty()) continue;
    const size_t equals = pair.find('=');
    if (equals == std::string_view::npos) return bad(entry, "expected key=value", pair);
    const std::string_view key = trim(pair.substr(0, equals));
    const std::string_view value = trim(pair.substr(equals + 1));
    if (key == "file") {
      if (value.empty() || value.find('/') != std::string_view::npos) {
        return bad(entry, "file: expected a file name inside the step directory", value);
      }
      fault.file = std::string(value);
    } else if (key == "after") {
      if (!parse_int(value, &fault.after_bytes)) return bad(entry, "after: expected a byte count", value);
    } else if (key == "errno") {
      if (value == "ENOSPC") {
        fault.error = ENOSPC;
      } else if (value == "EIO") {
        fault.error = EIO;
      } else {
        return bad(entry, "errno: expected ENOSPC or EIO", value);
      }
    } else if (key == "op") {
      if (value == "write") {
        fault.op = WriteFault::Op::kWrite;
      } else if (value == "fsync") {
        fault.op = WriteFault::Op::kFsync;
      } else {
        return bad(entry, "op: expected write or fsync", value);
      }
    } else if (key == "step") {
      if (!parse_int(value, &fault.step) || fault.step < 0) return bad(entry, "step: expected a step >= 0", value);
    } else {
      return bad(entry, "expected a key among file, after, errno, op, step", key);
    }
  }
  if (fault.file.empty()) return bad(entry, "file=NAME is required", "no file");
  return fault;
}

}  // namespace

bool WriteFault::matches(const std::string& path) const {
  const std::filesystem::path p(path);
  if (p.filename().string() != file) return false;
  if (step < 0) return true;
  std::string dir = p.parent_path().filename().string();
  if (dir.size() > kTmpDirSuffix.size() && dir.ends_with(kTmpDirSuffix)) dir.resize(dir.size() - kTmpDirSuffix.size());
  const auto dir_step = parse_step_dir_name(dir);
  return dir_step && *dir_step == step;
}

int WriteFault::error_number() const { return error == 0 ? ENOSPC : error; }

StatusOr<std::optional<WriteFault>> parse_write_fault(std::string_view spec) {
  std::optional<WriteFault> found;
  while (!spec.empty()) {
    const size_t semicolon = spec.find(';');
    const std::string_view entry = trim(spec.substr(0, semicolon));
    spec = semicolon == std::string_view::npos ? std::string_view() : spec.substr(semicolon + 1);
    constexpr std::string_view kKind = "ckpt_write:";
    if (!entry.starts_with(kKind)) continue;  // another injector's fault
    if (found) return bad(entry, "at most one ckpt_write entry", "a second one");
    TESSERA_ASSIGN_OR_RETURN(WriteFault fault, parse_entry(entry, entry.substr(kKind.size())));
    found = std::move(fault);
  }
  return found;
}

StatusOr<std::optional<WriteFault>> write_fault_from_env() {
  const char* value = std::getenv(kFaultEnvVar);
  if (value == nullptr) return std::optional<WriteFault>();
  return parse_write_fault(value);
}

}  // namespace tessera

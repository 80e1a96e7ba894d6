// Status / StatusOr<T>: how expected failures (I/O, bad config, corrupt file, peer timeout) travel.
// A message says what failed, expected vs actual, and a hint; each level adds its context in front:
//   "train: checkpoint step_000020: tensor 'wte': checksum mismatch (expected 0x.., found 0x..)".
// Programmer errors use TESSERA_CHECK (check.h) instead.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>
#include <variant>

namespace tessera {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad config value, bad command line, impossible layout
  kNotFound,            // missing file, unknown key or name
  kDataLoss,            // corrupt or truncated file, checksum mismatch
  kIoError,             // the OS refused a read/write/mmap
  kFailedPrecondition,  // state does not allow the operation (e.g. resume without a checkpoint)
  kUnavailable,         // a peer or resource is gone
  kDeadlineExceeded,    // a peer or operation timed out
  kInternal,            // an invariant broke in a way the caller can still report
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns this status with "context: " in front of the message; OK stays OK.
  Status with_context(std::string_view context) const;
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename... Args>
Status make_status(StatusCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...));
}
#define TESSERA_STATUS_FACTORY(fn, code)                                   \
  template <typename... Args>                                              \
  Status fn(fmt::format_string<Args...> format, Args&&... args) {          \
    return Status(code, fmt::format(format, std::forward<Args>(args)...)); \
  }
TESSERA_STATUS_FACTORY(invalid_argument_error, StatusCode::kInvalidArgument)
TESSERA_STATUS_FACTORY(not_found_error, StatusCode::kNotFound)
TESSERA_STATUS_FACTORY(data_loss_error, StatusCode::kDataLoss)
TESSERA_STATUS_FACTORY(io_error, StatusCode::kIoError)
TESSERA_STATUS_FACTORY(failed_precondition_error, StatusCode::kFailedPrecondition)
TESSERA_STATUS_FACTORY(unavailable_error, StatusCode::kUnavailable)
TESSERA_STATUS_FACTORY(deadline_exceeded_error, StatusCode::kDeadlineExceeded)
TESSERA_STATUS_FACTORY(internal_error, StatusCode::kInternal)
#undef TESSERA_STATUS_FACTORY

// Either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : value_(std::move(status)) {}  // NOLINT: implicit by design
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(value_); }
  Status status() const { return ok() ? Status() : std::get<Status>(value_); }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> value_;
};

}  // namespace tessera

#define TESSERA_CONCAT_INNER(a, b) a##b
#define TESSERA_CONCAT(a, b) TESSERA_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if it is not OK.
#define TESSERA_RETURN_IF_ERROR(expr)              \
  do {                                             \
    ::tessera::Status tessera_status_ = (expr);    \
    if (!tessera_status_.ok()) return tessera_status_; \
  } while (0)

// TESSERA_ASSIGN_OR_RETURN(auto x, make_x()): declares x from the value or returns the error.
#define TESSERA_ASSIGN_OR_RETURN(lhs, expr) \
  TESSERA_ASSIGN_OR_RETURN_IMPL(TESSERA_CONCAT(tessera_statusor_, __LINE__), lhs, expr)
#define TESSERA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

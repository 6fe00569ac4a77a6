// Errors as values across module boundaries (after absl::Status / StatusOr).
// The code tells the caller what to do: Unavailable means "retry with backoff",
// InvalidArgument means "the input is wrong, do not retry".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace portflow {

enum class StatusCode {
  kOk,
  kInvalidArgument,     // bad input; retrying will not help
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // create of something that exists
  kFailedPrecondition,  // the system is not in a state to do this
  kResourceExhausted,   // out of capacity or of descriptors, now or for good (see message)
  kUnavailable,         // transient; retry with backoff
  kDeadlineExceeded,    // took too long
  kCancelled,           // stopped on request
  kAborted,             // a concurrent change won (stale version): re-read, then retry
  kOutOfRange,          // asked for history that is gone (e.g. a too-old watch version)
  kUnimplemented,       // the backend cannot do this (see Capabilities)
  kInternal,            // a bug or an unexpected failure underneath
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: run x does not exist"
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return {}; }
inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status ResourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// `what` failed with `error` (an errno value), as "what: strerror": out of
// file descriptors (EMFILE, ENFILE) is ResourceExhausted, a shortage to wait
// out; any other error has the code `otherwise`.
Status FromErrno(const std::string& what, int error, StatusCode otherwise);

// A value or the Status that explains its absence. Never holds an OK status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {
    if (std::get<Status>(value_).ok()) value_ = Status(StatusCode::kInternal, "Result from OK");
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace portflow

#define PF_CONCAT_INNER(a, b) a##b
#define PF_CONCAT(a, b) PF_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::portflow::Status pf_status_ = (expr);  \
    if (!pf_status_.ok()) return pf_status_; \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Compute()); declares x from a Result or returns its Status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  PF_ASSIGN_OR_RETURN_IMPL(PF_CONCAT(pf_result_, __LINE__), lhs, expr)
#define PF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

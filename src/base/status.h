#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/check.h"

namespace warren {

// Error codes shared by every layer. The RPC layer maps them to JSON-RPC errors
// in exactly one place (rpc/errors.cc); the CLI maps them to exit codes.
enum class Code {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kUnavailable,
  kCancelled,
  kDeadlineExceeded,
  kResourceExhausted,
  kInternal,
};

std::string_view CodeName(Code code);

// Status is an expected failure as a value: a code plus a message that names the
// object and, where there is one, the fix. Cheap to copy when OK.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "not found: vm \"web\" does not exist" — for logs and CLI output.
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status Annotate(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status AlreadyExists(std::string message);
Status FailedPrecondition(std::string message);
Status Unavailable(std::string message);
Status Cancelled(std::string message);
Status DeadlineExceeded(std::string message);
Status ResourceExhausted(std::string message);
Status Internal(std::string message);
// Internal error carrying strerror(errno) for `what`.
Status ErrnoError(std::string_view what, int err);

// Result<T> holds a T or a non-OK Status. Shaped like std::expected (has_value,
// value, error, operator*, operator->) so it can be swapped for it later.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    CHECK(!std::get<Status>(v_).ok());
  }

  bool has_value() const { return v_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    CHECK(has_value());
    return std::get<T>(v_);
  }
  const T& value() const& {
    CHECK(has_value());
    return std::get<T>(v_);
  }
  T&& value() && {
    CHECK(has_value());
    return std::get<T>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Status& error() const {
    CHECK(!has_value());
    return std::get<Status>(v_);
  }
  // OK when holding a value; the error otherwise.
  Status status() const { return has_value() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace warren

#define WARREN_CONCAT_INNER(a, b) a##b
#define WARREN_CONCAT(a, b) WARREN_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                   \
  do {                                          \
    ::warren::Status _st = (expr);              \
    if (!_st.ok()) return _st;                  \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.has_value()) return tmp.error();   \
  lhs = std::move(tmp).value()

// ASSIGN_OR_RETURN(auto x, MaybeX());
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(WARREN_CONCAT(_result_, __LINE__), lhs, expr)

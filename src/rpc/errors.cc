#include "rpc/errors.h"

#include <array>
#include <string>

namespace warren::rpc {
namespace {

struct CodeRow {
  Code code;
  std::string_view slug;
  int rpc_code;
};

// One row per Code: the single source for both directions of the mapping.
constexpr std::array<CodeRow, 9> kCodeTable = {{
    {Code::kInvalidArgument, "invalid_argument", kInvalidParams},
    {Code::kNotFound, "not_found", kNotFoundError},
    {Code::kAlreadyExists, "already_exists", kAlreadyExistsError},
    {Code::kFailedPrecondition, "failed_precondition", kFailedPreconditionError},
    {Code::kUnavailable, "unavailable", kUnavailableError},
    {Code::kCancelled, "cancelled", kCancelledError},
    {Code::kDeadlineExceeded, "deadline_exceeded", kDeadlineError},
    {Code::kResourceExhausted, "resource_exhausted", kResourceExhaustedError},
    {Code::kInternal, "internal", kInternalError},
}};

const CodeRow* RowForCode(Code code) {
  for (const CodeRow& row : kCodeTable) {
    if (row.code == code) return &row;
  }
  return nullptr;
}

}  // namespace

std::string_view CodeSlug(Code code) {
  if (code == Code::kOk) return "ok";
  const CodeRow* row = RowForCode(code);
  return row ? row->slug : "unknown";
}

std::optional<Code> CodeFromSlug(std::string_view slug) {
  for (const CodeRow& row : kCodeTable) {
    if (row.slug == slug) return row.code;
  }
  return std::nullopt;
}

JsonRpcError StatusToJsonRpcError(const Status& status) {
  CHECK(!status.ok());
  const CodeRow* row = RowForCode(status.code());
  if (row == nullptr) row = RowForCode(Code::kInternal);
  return JsonRpcError{row->rpc_code, status.message(), {{"code", std::string(row->slug)}}};
}

Status JsonRpcErrorToStatus(const JsonRpcError& error) {
  if (error.data.is_object()) {
    auto slug = error.data.find("code");
    if (slug != error.data.end() && slug->is_string()) {
      if (auto code = CodeFromSlug(slug->get<std::string>())) return Status(*code, error.message);
    }
  }
  for (const CodeRow& row : kCodeTable) {
    if (row.rpc_code == error.code) return Status(row.code, error.message);
  }
  switch (error.code) {
    case kMethodNotFound:
      return NotFound(error.message);
    case kParseError:
    case kInvalidRequest:
      return Internal("the daemon rejected the request as malformed: " + error.message);
    default:
      return Internal("error " + std::to_string(error.code) + ": " + error.message);
  }
}

}  // namespace warren::rpc

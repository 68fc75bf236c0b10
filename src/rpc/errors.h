#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "base/status.h"
#include "rpc/jsonrpc.h"

namespace warren::rpc {

// Application error codes (JSON-RPC reserves -32000..-32099 for servers).
inline constexpr int kNotFoundError = -32001;
inline constexpr int kAlreadyExistsError = -32002;
inline constexpr int kFailedPreconditionError = -32003;
inline constexpr int kUnavailableError = -32004;
inline constexpr int kCancelledError = -32005;
inline constexpr int kDeadlineError = -32006;
inline constexpr int kResourceExhaustedError = -32007;

// THE mapping from Status to a JSON-RPC error object; nothing else in warren
// builds error objects from a Status. InvalidArgument → -32602, Internal →
// -32603, the rest → the application codes above. `data` is
// {"code": "<snake_case code name>"}, e.g. {"code": "not_found"}, so the client
// gets the exact Code back. `status` must not be OK.
JsonRpcError StatusToJsonRpcError(const Status& status);

// The reverse, for the client: the original Code (from data.code when present,
// else from the numeric code) and message. Protocol errors map to
// InvalidArgument (-32602), NotFound (-32601, unknown method) or Internal
// (-32700, -32600, -32603, unknown codes). Never returns OK.
Status JsonRpcErrorToStatus(const JsonRpcError& error);

// "not_found" ↔ Code::kNotFound.
std::string_view CodeSlug(Code code);
std::optional<Code> CodeFromSlug(std::string_view slug);

}  // namespace warren::rpc

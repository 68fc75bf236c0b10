#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace warren::rpc {

// JSON-RPC 2.0 messages (https://www.jsonrpc.org/specification). Pure
// functions over frame payloads; no I/O.

// Standard protocol error codes. Application codes (-32001..) live in errors.h.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

// Client→server notification that cancels a request: params {"id": <id>}.
inline constexpr std::string_view kCancelMethod = "$/cancel";

// The JSON-RPC "error" member.
struct JsonRpcError {
  int code = kInternalError;
  std::string message;
  nlohmann::json data;  // null when absent

  nlohmann::json ToJson() const;
};

// A validated request or notification.
struct Request {
  nlohmann::json id;          // number, string or null; meaningless for notifications
  bool notification = false;  // true when the "id" member was absent
  std::string method;
  nlohmann::json params = nlohmann::json::object();  // object or array; absent → {}
};

// Why a payload is not a valid request, with the id to answer to (null when the
// id could not be read). Notifications that fail validation are still answered,
// since the sender cannot be identified as a notification sender reliably.
struct RequestError {
  nlohmann::json id;
  JsonRpcError error;
};

// Messages nested deeper than this are refused (-32600) before they are parsed.
inline constexpr size_t kMaxJsonDepth = 64;

// Parses one kJson frame payload. Batches (arrays) are refused with -32600.
std::variant<Request, RequestError> ParseRequest(std::string_view payload);

// Server→client messages as the client sees them.
struct Response {
  nlohmann::json id;
  std::optional<nlohmann::json> result;  // exactly one of result / error
  std::optional<JsonRpcError> error;
};
struct Notification {
  std::string method;
  nlohmann::json params;
};
// Parses a server→client payload; RequestError (with kParseError /
// kInvalidRequest) when it is neither a response nor a notification.
std::variant<Response, Notification, RequestError> ParseIncoming(std::string_view payload);

// Builders; each returns the serialized JSON text (a kJson frame payload).
std::string MakeRequest(const nlohmann::json& id, std::string_view method,
                        const nlohmann::json& params);
std::string MakeNotification(std::string_view method, const nlohmann::json& params);
std::string MakeResult(const nlohmann::json& id, const nlohmann::json& result);
std::string MakeError(const nlohmann::json& id, const JsonRpcError& error);

// dump() that never throws: invalid UTF-8 in strings is replaced, not fatal.
std::string DumpJson(const nlohmann::json& value);

}  // namespace warren::rpc

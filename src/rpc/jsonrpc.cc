#include "rpc/jsonrpc.h"

#include <algorithm>
#include <utility>

namespace warren::rpc {

using nlohmann::json;

namespace {

RequestError Invalid(json id, std::string message) {
  return RequestError{std::move(id), JsonRpcError{kInvalidRequest, std::move(message), nullptr}};
}

// How deeply arrays and objects nest in `text`, by a scan that skips strings.
// nlohmann recurses per level (building or dumping a value): one frame of 200k
// '[' crashed a thread inside json::parse, well under the frame size limit.
size_t NestingDepth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// Parses without exceptions escaping; nlohmann reports the byte offset in what().
std::variant<json, RequestError> ParseJson(std::string_view payload) {
  if (NestingDepth(payload) > kMaxJsonDepth) {
    return RequestError{nullptr, JsonRpcError{kInvalidRequest,
                                              "JSON nested deeper than " +
                                                  std::to_string(kMaxJsonDepth) + " levels",
                                              nullptr}};
  }
  try {
    return json::parse(payload);
  } catch (const json::exception& e) {
    return RequestError{
        nullptr, JsonRpcError{kParseError, std::string("parse error: ") + e.what(), nullptr}};
  }
}

bool ValidId(const json& id) { return id.is_number() || id.is_string() || id.is_null(); }

std::optional<RequestError> CheckEnvelope(const json& msg, const json& id) {
  auto version = msg.find("jsonrpc");
  if (version == msg.end() || !version->is_string() || *version != "2.0") {
    return Invalid(id, "\"jsonrpc\" must be \"2.0\"");
  }
  return std::nullopt;
}

}  // namespace

json JsonRpcError::ToJson() const {
  json out = {{"code", code}, {"message", message}};
  if (!data.is_null()) out["data"] = data;
  return out;
}

std::variant<Request, RequestError> ParseRequest(std::string_view payload) {
  auto parsed = ParseJson(payload);
  if (auto* err = std::get_if<RequestError>(&parsed)) return std::move(*err);
  json& msg = std::get<json>(parsed);
  if (msg.is_array()) return Invalid(nullptr, "batch requests are not supported");
  if (!msg.is_object()) return Invalid(nullptr, "a request must be a JSON object");

  Request req;
  auto id = msg.find("id");
  req.notification = id == msg.end();
  if (!req.notification) {
    if (!ValidId(*id)) return Invalid(nullptr, "\"id\" must be a number, a string or null");
    req.id = *id;
  }
  if (auto err = CheckEnvelope(msg, req.id)) return std::move(*err);
  auto method = msg.find("method");
  if (method == msg.end() || !method->is_string()) {
    return Invalid(req.id, "\"method\" must be a string");
  }
  req.method = method->get<std::string>();
  auto params = msg.find("params");
  if (params != msg.end()) {
    if (!params->is_object() && !params->is_array()) {
      return Invalid(req.id, "\"params\" must be an object or an array");
    }
    req.params = std::move(*params);
  }
  return req;
}

std::variant<Response, Notification, RequestError> ParseIncoming(std::string_view payload) {
  auto parsed = ParseJson(payload);
  if (auto* err = std::get_if<RequestError>(&parsed)) return std::move(*err);
  json& msg = std::get<json>(parsed);
  if (!msg.is_object()) return Invalid(nullptr, "a message must be a JSON object");
  auto id = msg.find("id");
  json id_value = (id != msg.end() && ValidId(*id)) ? *id : json(nullptr);
  if (auto err = CheckEnvelope(msg, id_value)) return std::move(*err);

  auto method = msg.find("method");
  if (method != msg.end()) {
    if (!method->is_string()) return Invalid(id_value, "\"method\" must be a string");
    auto params = msg.find("params");
    return Notification{method->get<std::string>(),
                        params == msg.end() ? json::object() : std::move(*params)};
  }
  if (id == msg.end()) return Invalid(nullptr, "a response must have an \"id\"");
  Response resp;
  resp.id = id_value;
  auto result = msg.find("result");
  auto error = msg.find("error");
  if ((result == msg.end()) == (error == msg.end())) {
    return Invalid(id_value, "a response needs exactly one of \"result\" and \"error\"");
  }
  if (result != msg.end()) {
    resp.result = std::move(*result);
    return resp;
  }
  if (!error->is_object()) return Invalid(id_value, "\"error\" must be an object");
  auto code = error->find("code");
  auto message = error->find("message");
  if (code == error->end() || !code->is_number_integer() || message == error->end() ||
      !message->is_string()) {
    return Invalid(id_value, "\"error\" needs an integer \"code\" and a string \"message\"");
  }
  JsonRpcError e;
  e.code = code->get<int>();
  e.message = message->get<std::string>();
  if (auto data = error->find("data"); data != error->end()) e.data = *data;
  resp.error = std::move(e);
  return resp;
}

std::string MakeRequest(const json& id, std::string_view method, const json& params) {
  return DumpJson({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
}

std::string MakeNotification(std::string_view method, const json& params) {
  return DumpJson({{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
}

std::string MakeResult(const json& id, const json& result) {
  return DumpJson({{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
}

std::string MakeError(const json& id, const JsonRpcError& error) {
  return DumpJson({{"jsonrpc", "2.0"}, {"id", id}, {"error", error.ToJson()}});
}

std::string DumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace warren::rpc

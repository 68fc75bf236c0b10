#include "rpc/dispatcher.h"

#include <array>
#include <exception>

#include "base/check.h"
#include "rpc/errors.h"

namespace warren::rpc {

using nlohmann::json;

namespace {

struct DescribeRequest {
  static constexpr std::array<ParamSpec, 0> kParams{};
  static Result<DescribeRequest> FromJson(const json&) { return DescribeRequest{}; }
};

}  // namespace

Dispatcher::Dispatcher(std::vector<MethodRow> rows) {
  // The table outlives every call, so the row may point back at it.
  rows.push_back(Method<DescribeRequest>(
      std::string(kDescribeMethod), Mutation::kReadOnly,
      {.summary = "Describes every method of this table: params, result, errors.",
       .result = "{methods: [{name, mutating, params: [{name, type, required, doc, min, max | "
                 "max_bytes}], summary, result, errors: [{code, rpc_code, when}], "
                 "notifications}]}"},
      [this](const DescribeRequest&, CallContext&) -> Result<json> { return Describe(); }));
  for (MethodRow& row : rows) {
    CHECK(row.handler != nullptr);
    std::string name = row.name;
    bool inserted = rows_.emplace(std::move(name), std::move(row)).second;
    CHECK(inserted);  // duplicate method name in the table
  }
  for (const auto& [name, row] : rows_) counters_.emplace(name, std::make_unique<Counters>());
}

const MethodRow* Dispatcher::Find(std::string_view method) const {
  auto it = rows_.find(method);
  return it == rows_.end() ? nullptr : &it->second;
}

Result<json> Dispatcher::Dispatch(std::string_view method, const json& params,
                                  CallContext& ctx) const {
  const MethodRow* row = Find(method);
  if (row == nullptr) {
    unknown_calls_.fetch_add(1, std::memory_order_relaxed);
    return NotFound("unknown method \"" + std::string(method) + "\"");
  }
  const auto start = std::chrono::steady_clock::now();
  Result<json> result = [&]() -> Result<json> {
    if (row->mutation == Mutation::kMutating && draining()) {
      return Unavailable("daemon is shutting down");
    }
    // Handlers wrap their libraries' exceptions; anything escaping is a bug, but
    // one bad call must not take the daemon down with it.
    try {
      return row->handler(params, ctx);
    } catch (const std::exception& e) {
      return Internal("method \"" + std::string(method) + "\" threw: " + e.what());
    } catch (...) {
      return Internal("method \"" + std::string(method) + "\" threw a non-standard exception");
    }
  }();
  Record(method, result.ok() ? Code::kOk : result.error().code(),
         std::chrono::steady_clock::now() - start);
  return result;
}

void Dispatcher::Record(std::string_view method, Code code,
                        std::chrono::steady_clock::duration took) const {
  auto it = counters_.find(method);
  CHECK(it != counters_.end());
  const size_t i = static_cast<size_t>(code);
  it->second->by_code[i < kCodes ? i : static_cast<size_t>(Code::kInternal)].fetch_add(
      1, std::memory_order_relaxed);
  it->second->duration.Observe(std::chrono::duration<double>(took).count());
}

std::vector<MethodCallStats> Dispatcher::CallStats() const {
  std::vector<MethodCallStats> out;
  out.reserve(counters_.size());
  for (const auto& [name, c] : counters_) {
    MethodCallStats stats{name, {}, c->duration.Snapshot()};
    for (size_t i = 0; i < kCodes; ++i) {
      const uint64_t n = c->by_code[i].load(std::memory_order_relaxed);
      if (n > 0) stats.calls_by_result[std::string(CodeSlug(static_cast<Code>(i)))] = n;
    }
    out.push_back(std::move(stats));
  }
  return out;
}

std::string Dispatcher::HandleRequest(const Request& request, CallContext& ctx) const {
  if (Find(request.method) == nullptr) {
    unknown_calls_.fetch_add(1, std::memory_order_relaxed);
    return MakeError(
        request.id,
        JsonRpcError{kMethodNotFound, "unknown method \"" + request.method + "\"", nullptr});
  }
  Result<json> result = Dispatch(request.method, request.params, ctx);
  if (!result.ok()) return MakeError(request.id, StatusToJsonRpcError(result.error()));
  return MakeResult(request.id, *result);
}

json Dispatcher::Describe() const {
  json methods = json::array();
  for (const auto& [name, row] : rows_) {
    json m = {{"name", name}, {"mutating", row.mutation == Mutation::kMutating}};
    if (row.params_declared) m["params"] = ParamsToJson(row.params);
    m.update(MethodDocToJson(row.doc));
    methods.push_back(std::move(m));
  }
  return json{{"methods", methods}};
}

json MethodDocToJson(const MethodDoc& doc) {
  json errors = json::array();
  for (const ErrorDoc& e : doc.errors) {
    errors.push_back({{"code", CodeSlug(e.code)},
                      {"rpc_code", StatusToJsonRpcError(Status(e.code, "x")).code},
                      {"when", e.when}});
  }
  return {{"summary", doc.summary},
          {"result", doc.result},
          {"errors", errors},
          {"notifications", doc.notifications}};
}

void Dispatcher::SetDraining() { draining_.store(true, std::memory_order_release); }

std::vector<std::string> Dispatcher::MethodNames() const {
  std::vector<std::string> names;
  names.reserve(rows_.size());
  for (const auto& [name, row] : rows_) names.push_back(name);
  return names;
}

namespace {

std::string Quoted(const char* field) { return "field \"" + std::string(field) + "\""; }

Status WrongType(const char* field, const char* want, const json& got) {
  return InvalidArgument(Quoted(field) + " must be " + want + ", got " + got.type_name());
}

}  // namespace

Result<std::string> RequiredString(const json& params, const char* field) {
  auto it = params.find(field);
  if (it == params.end() || it->is_null()) return InvalidArgument(Quoted(field) + " is required");
  if (!it->is_string()) return WrongType(field, "a string", *it);
  return it->get<std::string>();
}

Result<std::string> OptionalString(const json& params, const char* field, std::string fallback) {
  auto it = params.find(field);
  if (it == params.end() || it->is_null()) return fallback;
  if (!it->is_string()) return WrongType(field, "a string", *it);
  return it->get<std::string>();
}

Result<int64_t> RequiredInt(const json& params, const char* field) {
  auto it = params.find(field);
  if (it == params.end() || it->is_null()) return InvalidArgument(Quoted(field) + " is required");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return InvalidArgument(Quoted(field) + " is out of range");
  }
  if (!it->is_number_integer()) return WrongType(field, "an integer", *it);
  return it->get<int64_t>();
}

Result<int64_t> OptionalInt(const json& params, const char* field, int64_t fallback) {
  auto it = params.find(field);
  if (it == params.end() || it->is_null()) return fallback;
  return RequiredInt(params, field);
}

Result<bool> OptionalBool(const json& params, const char* field, bool fallback) {
  auto it = params.find(field);
  if (it == params.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return WrongType(field, "a boolean", *it);
  return it->get<bool>();
}

Result<std::vector<std::string>> OptionalStringList(const json& params, const char* field) {
  std::vector<std::string> out;
  auto it = params.find(field);
  if (it == params.end() || it->is_null()) return out;
  if (!it->is_array()) return WrongType(field, "an array of strings", *it);
  for (const json& item : *it) {
    if (!item.is_string()) return WrongType(field, "an array of strings", *it);
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<json> OptionalObject(const json& params, const char* field) {
  auto it = params.find(field);
  if (it == params.end() || it->is_null()) return json::object();
  if (!it->is_object()) return WrongType(field, "an object", *it);
  return *it;
}

}  // namespace warren::rpc

#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/status.h"
#include "metrics/histogram.h"
#include "rpc/jsonrpc.h"
#include "rpc/params.h"

namespace warren::rpc {

// Credentials of the connected peer (SO_PEERCRED); -1 fields when unknown
// (e.g. the web UI fills in its own notion of a peer).
struct PeerCred {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = -1;
};

// Per call. Handlers may block: they run on a per-connection worker thread,
// never on the socket reader. The callbacks are valid for the duration of the
// call; they are set by the transport (server or a test). notify and
// send_stream take the connection's leaf write lock and do socket I/O, so call
// them with no lock held (copy out, unlock, then notify).
struct CallContext {
  PeerCred peer;
  // Fires when the client disconnects, sends "$/cancel", or the server shuts down.
  std::stop_token stop;
  // Server→client notification on the same connection (e.g. progress). Thread-safe.
  // Error if the connection is gone.
  std::function<Status(std::string_view method, const nlohmann::json& params)> notify;
  // Stream output (binary) to the client: stream id, channel, bytes. Thread-safe;
  // blocks for backpressure (bounded by a send timeout, then the connection is dropped).
  std::function<Status(uint32_t stream, uint8_t channel, std::string_view bytes)> send_stream;
  // Registers a sink for inbound stream frames with this stream id while the call
  // runs (e.g. stdin). The sink runs on the connection's reader thread: it must
  // be quick and must not call back into this connection synchronously.
  std::function<void(uint32_t stream, std::function<void(uint8_t channel, std::string_view bytes)>)>
      on_stream;
};

enum class Mutation { kReadOnly, kMutating };

using Handler =
    std::function<Result<nlohmann::json>(const nlohmann::json& params, CallContext& ctx)>;

// One error a method returns on purpose, beyond the ones every method can
// (InvalidArgument for bad params; Unavailable for a mutating one while the
// daemon shuts down; Internal).
struct ErrorDoc {
  Code code;
  std::string_view when;
};

// What a method is for and what it answers, next to its params: rpc.methods
// reports it, and tools/rpc_gen turns the table into docs/RPC.md and the web
// client (web/gen/rpc.js), so no client retypes it.
struct MethodDoc {
  std::string_view summary;  // one line, imperative ("Lists the VMs.")
  std::string_view result;   // the shape of the result, e.g. "{vms: [VM]}"
  std::vector<ErrorDoc> errors = {};
  // Notifications sent on the call's connection before its result, e.g.
  // "op.progress {OP}"; "" = none.
  std::string_view notifications = {};
};

struct MethodRow {
  std::string name;
  Mutation mutation;
  Handler handler;
  // What the handler accepts, checked before it runs (see Method<>). Rows built
  // by hand (tests) leave params_declared false and check nothing.
  std::vector<ParamSpec> params = {};
  bool params_declared = false;
  // Empty summary = undocumented (tools/rpc_gen refuses to generate then).
  MethodDoc doc = {};
};

// Typed request structs are parsed and validated before any handler code (and
// so before any lock). Req must have
//   static constexpr std::array<ParamSpec, N> kParams;  // what it accepts
//   static Result<Req> FromJson(const nlohmann::json& params);
// CheckParams (params.h) refuses non-objects, undeclared members, wrong types,
// out-of-range values and missing required members with InvalidArgument
// (→ -32602) before FromJson runs; FromJson adds cross-field checks.
// Fn: Result<nlohmann::json>(const Req&, CallContext&).
template <typename Req, typename Fn>
MethodRow Method(std::string name, Mutation mutation, std::span<const ParamSpec> specs, Fn fn) {
  std::vector<ParamSpec> declared(specs.begin(), specs.end());
  Handler handler = [fn = std::move(fn), declared](const nlohmann::json& params,
                                                   CallContext& ctx) -> Result<nlohmann::json> {
    RETURN_IF_ERROR(CheckParams(params, declared));
    ASSIGN_OR_RETURN(Req req, Req::FromJson(params));
    return fn(static_cast<const Req&>(req), ctx);
  };
  return MethodRow{std::move(name), mutation, std::move(handler), std::move(declared), true};
}

// The common case: the request struct's own declaration.
template <typename Req, typename Fn>
MethodRow Method(std::string name, Mutation mutation, Fn fn) {
  return Method<Req>(std::move(name), mutation, std::span<const ParamSpec>(Req::kParams),
                     std::move(fn));
}

// The same, documented (see MethodDoc): what every row of the daemon's table uses.
template <typename Req, typename Fn>
MethodRow Method(std::string name, Mutation mutation, MethodDoc doc,
                 std::span<const ParamSpec> specs, Fn fn) {
  MethodRow row = Method<Req>(std::move(name), mutation, specs, std::move(fn));
  row.doc = std::move(doc);
  return row;
}
template <typename Req, typename Fn>
MethodRow Method(std::string name, Mutation mutation, MethodDoc doc, Fn fn) {
  return Method<Req>(std::move(name), mutation, std::move(doc),
                     std::span<const ParamSpec>(Req::kParams), std::move(fn));
}

// {"summary", "result", "errors": [{"code": "not_found", "rpc_code": -32001, "when"}],
//  "notifications"} for rpc.methods.
nlohmann::json MethodDocToJson(const MethodDoc& doc);

// Built into every Dispatcher: `rpc.methods` (no params) answers
// {"methods": [{"name", "mutating", "params": ParamsToJson(...), "summary", "result",
// "errors", "notifications"}]} for every row, itself included; a row built by hand
// (tests only) has no "params".
inline constexpr std::string_view kDescribeMethod = "rpc.methods";

// Calls of one method so far (Dispatcher::CallStats): by result ("ok" or the
// error code's slug, errors.h) and how long they took.
struct MethodCallStats {
  std::string method;
  std::map<std::string, uint64_t> calls_by_result;  // only results seen
  metrics::HistogramData duration;
};

// Table dispatch over MethodRows. Immutable after construction except for the
// draining flag and the call counters (atomics); thread-safe.
class Dispatcher {
 public:
  // CHECK on duplicate names. Adds the kDescribeMethod row.
  explicit Dispatcher(std::vector<MethodRow> rows);

  // Runs the handler. Unknown method → NotFound ("unknown method ..."); a
  // mutating method while draining → Unavailable("daemon is shutting down");
  // exceptions escaping a handler → Internal.
  Result<nlohmann::json> Dispatch(std::string_view method, const nlohmann::json& params,
                                  CallContext& ctx) const;

  // The whole JSON-RPC step for a transport: returns the response text for
  // `request` (-32601 for an unknown method, the Status mapping of errors.h
  // otherwise). Transports (unix socket, web) call this, not Dispatch.
  std::string HandleRequest(const Request& request, CallContext& ctx) const;

  // While draining (shutdown), kMutating methods are refused with
  // Unavailable("daemon is shutting down").
  void SetDraining();
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  std::vector<std::string> MethodNames() const;
  // nullptr when no such method.
  const MethodRow* Find(std::string_view method) const;
  // The kDescribeMethod result.
  nlohmann::json Describe() const;

  // Every method's calls through Dispatch so far (for /metrics), and the
  // calls that named no method. Lock-free: counting never slows a call.
  std::vector<MethodCallStats> CallStats() const;
  uint64_t UnknownMethodCalls() const { return unknown_calls_.load(std::memory_order_relaxed); }

 private:
  // Code is dense from kOk to kInternal (status.h).
  static constexpr size_t kCodes = static_cast<size_t>(Code::kInternal) + 1;
  struct Counters {
    std::array<std::atomic<uint64_t>, kCodes> by_code{};
    metrics::Histogram duration{metrics::kRpcSecondsBounds};
  };
  void Record(std::string_view method, Code code, std::chrono::steady_clock::duration took) const;

  std::map<std::string, MethodRow, std::less<>> rows_;  // immutable after construction
  // One per row, made with it; the map is immutable, the counters atomic.
  std::map<std::string, std::unique_ptr<Counters>, std::less<>> counters_;
  mutable std::atomic<uint64_t> unknown_calls_{0};
  std::atomic<bool> draining_{false};
};

// Request-struct helpers: one line per field, errors name the field
// (InvalidArgument "field \"name\" is required" / "... must be a string").
// `params` must be an object (Method<> guarantees it).
Result<std::string> RequiredString(const nlohmann::json& params, const char* field);
Result<std::string> OptionalString(const nlohmann::json& params, const char* field,
                                   std::string fallback = "");
Result<int64_t> RequiredInt(const nlohmann::json& params, const char* field);
Result<int64_t> OptionalInt(const nlohmann::json& params, const char* field, int64_t fallback = 0);
Result<bool> OptionalBool(const nlohmann::json& params, const char* field, bool fallback = false);
Result<std::vector<std::string>> OptionalStringList(const nlohmann::json& params,
                                                    const char* field);
// The field's object (or {} when absent); error when present but not an object.
Result<nlohmann::json> OptionalObject(const nlohmann::json& params, const char* field);

}  // namespace warren::rpc

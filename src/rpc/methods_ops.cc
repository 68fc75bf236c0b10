// op.*: the generic operation registry (list, get, wait with progress, cancel).
#include "rpc/services.h"

namespace warren::rpc {
namespace {

struct OpIdRequest {
  std::string id;
  static constexpr auto kParams = std::to_array<ParamSpec>({Str("id", kRequired, "the op's id")});
  static Result<OpIdRequest> FromJson(const nlohmann::json& p) {
    OpIdRequest r;
    ASSIGN_OR_RETURN(r.id, RequiredString(p, "id"));
    return r;
  }
};

struct WaitRequest {
  std::string id;
  bool logs = false;  // also stream the op's log lines as "op.log" notifications
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("id", kRequired, "the op's id"),
      Bool("logs", "also send the op's log lines as op.log notifications"),
  });
  static Result<WaitRequest> FromJson(const nlohmann::json& p) {
    WaitRequest r;
    ASSIGN_OR_RETURN(r.id, RequiredString(p, "id"));
    ASSIGN_OR_RETURN(r.logs, OptionalBool(p, "logs"));
    return r;
  }
};

Result<nlohmann::json> Wait(OpRegistry* ops, const WaitRequest& req, CallContext& ctx) {
  auto on_event = [&](const OpInfo& info, const std::string* line) {
    // A failed notify means the client went away; ctx.stop fires and Wait returns.
    if (line) {
      if (req.logs) (void)ctx.notify("op.log", {{"id", info.id}, {"line", *line}});
      return;
    }
    (void)ctx.notify("op.progress", OpInfoToJson(info));
  };
  ASSIGN_OR_RETURN(OpInfo info, ops->Wait(req.id, ctx.stop, on_event));
  return OpInfoToJson(info);
}

}  // namespace

std::vector<MethodRow> OpMethods(const Services& s) {
  OpRegistry* ops = s.ops;
  return {
      Method<NoParams>("op.list", Mutation::kReadOnly,
                       {.summary = "Lists operations, running and recent, oldest first.",
                        .result = "{ops: [OP]}",
                        .errors = {}},
                       [ops](const NoParams&, CallContext&) -> Result<nlohmann::json> {
                         nlohmann::json list = nlohmann::json::array();
                         for (const OpInfo& op : ops->List()) list.push_back(OpInfoToJson(op));
                         return nlohmann::json{{"ops", list}};
                       }),
      Method<OpIdRequest>(
          "op.get", Mutation::kReadOnly,
          {.summary = "Shows one operation.",
           .result =
               "OP {id, kind, target, state, step, fraction, started_ms, ended_ms, error, result}",
           .errors = {{Code::kNotFound, "no such op"}}},
          [ops](const OpIdRequest& r, CallContext&) -> Result<nlohmann::json> {
            ASSIGN_OR_RETURN(OpInfo info, ops->Get(r.id));
            return OpInfoToJson(info);
          }),
      Method<WaitRequest>(
          "op.wait", Mutation::kReadOnly,
          {.summary = "Follows an operation until it ends.",
           .result = "OP (its final state)",
           .errors = {{Code::kNotFound, "no such op"},
                      {Code::kCancelled, "the client cancelled the wait (the op goes on)"}},
           .notifications =
               "op.progress OP on every change; op.log {id, line} per log line when logs is set"},
          [ops](const WaitRequest& r, CallContext& ctx) { return Wait(ops, r, ctx); }),
      Method<OpIdRequest>("op.cancel", Mutation::kMutating,
                          {.summary = "Asks a running operation to stop (it rolls back).",
                           .result = "{id, cancel_requested: true}",
                           .errors = {{Code::kNotFound, "no such op"},
                                      {Code::kFailedPrecondition, "the op already ended"}}},
                          [ops](const OpIdRequest& r, CallContext&) -> Result<nlohmann::json> {
                            RETURN_IF_ERROR(ops->Cancel(r.id));
                            return nlohmann::json{{"id", r.id}, {"cancel_requested", true}};
                          }),
  };
}

}  // namespace warren::rpc

// events.*: the daemon-wide change stream (VMs, ops, images, sessions).
#include <set>
#include <string>

#include "events/event_bus.h"
#include "rpc/services.h"

namespace warren::rpc {
namespace {

struct SubscribeRequest {
  std::set<std::string> kinds;  // empty = every kind
  bool snapshot = false;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      {"kinds", ParamType::kStringList, kOptional,
       "only these kinds: vm, op, image, session (absent = all)", kNoMin, kNoMax, 16},
      {"snapshot", ParamType::kBool, kOptional,
       "the meta/subscribed event carries the current lists (one round trip, nothing missed)"},
  });
  static Result<SubscribeRequest> FromJson(const nlohmann::json& p) {
    SubscribeRequest r;
    ASSIGN_OR_RETURN(r.snapshot, OptionalBool(p, "snapshot", false));
    ASSIGN_OR_RETURN(std::vector<std::string> kinds, OptionalStringList(p, "kinds"));
    for (const std::string& k : kinds) {
      bool known = false;
      for (std::string_view want : kEventKinds) known = known || k == want;
      if (!known) {
        return InvalidArgument("field \"kinds\": unknown kind \"" + k +
                               "\"; known: vm, op, image, session");
      }
      r.kinds.insert(k);
    }
    return r;
  }
};

// {vms, images, ops, sessions}: what the list methods answer now, each run
// through its own row of the table (the same code and JSON as a client's call).
Result<nlohmann::json> Snapshot(const SnapshotSources& lists, CallContext& ctx) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [field, handler] : lists) {
    ASSIGN_OR_RETURN(nlohmann::json r, handler(nlohmann::json::object(), ctx));
    out[field] = std::move(r[field]);
  }
  return out;
}

// Runs on the connection's worker thread until the client cancels or goes:
// the bus only queues, and every socket write happens here, on this thread.
Result<nlohmann::json> Subscribe(EventBus* bus, const SnapshotSources& lists,
                                 const SubscribeRequest& r, CallContext& ctx) {
  std::unique_ptr<Subscription> sub = bus->Subscribe(r.kinds);
  // Tells the client the subscription is live, so it may list now and miss
  // nothing; with `snapshot`, the lists taken after that point come with it.
  // (An event queued meanwhile may repeat what the lists show: each event
  // carries its whole object, so applying it again is harmless.)
  nlohmann::json data = nlohmann::json::object();
  if (r.snapshot) {
    ASSIGN_OR_RETURN(data, Snapshot(lists, ctx));
  }
  RETURN_IF_ERROR(ctx.notify("event", {{"seq", sub->start_seq()},
                                       {"time_ms", 0},
                                       {"kind", kMetaKind},
                                       {"action", "subscribed"},
                                       {"target", ""},
                                       {"data", std::move(data)}}));
  while (!ctx.stop.stop_requested()) {
    for (const auto& event : sub->Next(ctx.stop, std::chrono::seconds(1))) {
      // A failed write means the client is gone; its stop token fires too.
      if (!ctx.notify("event", EventToJson(*event)).ok()) return nlohmann::json::object();
    }
  }
  return nlohmann::json::object();
}

}  // namespace

std::vector<MethodRow> EventMethods(const Services& s, SnapshotSources lists) {
  EventBus* bus = s.events;
  return {
      Method<SubscribeRequest>(
          "events.subscribe", Mutation::kReadOnly,
          {.summary = "Streams change events (VMs, ops, images, sessions) until cancelled.",
           .result = "{} once the client sends $/cancel (or never: it ends with the connection)",
           .errors = {},
           .notifications =
               "event {seq, time_ms, kind, action, target, data}: first one meta/subscribed "
               "(list after it and miss nothing; with snapshot, its data is {vms, images, ops, "
               "sessions} as the list methods answer them), then every change; meta/overflow "
               "{dropped} when this client read too slowly and lost events (re-list)"},
          [bus, lists = std::move(lists)](const SubscribeRequest& r, CallContext& ctx) {
            return Subscribe(bus, lists, r, ctx);
          }),
  };
}

}  // namespace warren::rpc

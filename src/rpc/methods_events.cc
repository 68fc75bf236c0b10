// events.*: the daemon-wide change stream (VMs, ops, images, sessions).
#include <set>
#include <string>

#include "events/event_bus.h"
#include "rpc/services.h"

namespace warren::rpc {
namespace {

struct SubscribeRequest {
  std::set<std::string> kinds;  // empty = every kind
  static constexpr auto kParams = std::to_array<ParamSpec>({
      {"kinds", ParamType::kStringList, kOptional,
       "only these kinds: vm, op, image, session (absent = all)", kNoMin, kNoMax, 16},
  });
  static Result<SubscribeRequest> FromJson(const nlohmann::json& p) {
    SubscribeRequest r;
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

// Runs on the connection's worker thread until the client cancels or goes:
// the bus only queues, and every socket write happens here, on this thread.
Result<nlohmann::json> Subscribe(EventBus* bus, const SubscribeRequest& r, CallContext& ctx) {
  std::unique_ptr<Subscription> sub = bus->Subscribe(r.kinds);
  // Tells the client the subscription is live, so it may list now and miss nothing.
  RETURN_IF_ERROR(ctx.notify("event", {{"seq", sub->start_seq()},
                                       {"time_ms", 0},
                                       {"kind", kMetaKind},
                                       {"action", "subscribed"},
                                       {"target", ""},
                                       {"data", nlohmann::json::object()}}));
  while (!ctx.stop.stop_requested()) {
    for (const auto& event : sub->Next(ctx.stop, std::chrono::seconds(1))) {
      // A failed write means the client is gone; its stop token fires too.
      if (!ctx.notify("event", EventToJson(*event)).ok()) return nlohmann::json::object();
    }
  }
  return nlohmann::json::object();
}

}  // namespace

std::vector<MethodRow> EventMethods(const Services& s) {
  EventBus* bus = s.events;
  return {
      Method<SubscribeRequest>(
          "events.subscribe", Mutation::kReadOnly,
          {.summary = "Streams change events (VMs, ops, images, sessions) until cancelled.",
           .result = "{} once the client sends $/cancel (or never: it ends with the connection)",
           .errors = {},
           .notifications =
               "event {seq, time_ms, kind, action, target, data}: first one meta/subscribed "
               "(list after it and miss nothing), then every change; meta/overflow {dropped} "
               "when this client read too slowly and lost events (re-list)"},
          [bus](const SubscribeRequest& r, CallContext& ctx) { return Subscribe(bus, r, ctx); }),
  };
}

}  // namespace warren::rpc

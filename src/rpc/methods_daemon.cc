// daemon.*: status and liveness.
#include "image/registry.h"
#include "rpc/services.h"

namespace warren::rpc {
namespace {

nlohmann::json StatusJson(const Services& s) {
  size_t running = 0;
  std::vector<OpInfo> ops = s.ops->List();
  for (const auto& op : ops) running += op.state == OpState::kRunning;
  // A store error leaves the count out rather than failing status.
  Result<std::vector<ImageInfo>> images = s.images->List();
  nlohmann::json counts = {{"ops_running", running}, {"ops", ops.size()}};
  if (images.ok()) counts["images"] = images->size();
  return {
      {"version", s.info.version},
      {"pid", s.info.pid},
      {"started_ms", s.info.started_ms},
      {"uptime_ms", s.clock->NowUnixMillis() - s.info.started_ms},
      {"root", s.info.root},
      {"socket", s.info.socket},
      {"accelerator", s.info.accelerator},
      {"counts", counts},
  };
}

}  // namespace

std::vector<MethodRow> DaemonMethods(const Services& s) {
  return {
      Method<NoParams>("daemon.ping", Mutation::kReadOnly,
                    [](const NoParams&, CallContext&) -> Result<nlohmann::json> {
                      return nlohmann::json::object();
                    }),
      Method<NoParams>("daemon.status", Mutation::kReadOnly,
                    [s](const NoParams&, CallContext&) -> Result<nlohmann::json> {
                      return StatusJson(s);
                    }),
  };
}

std::vector<MethodRow> AllMethods(const Services& s) {
  std::vector<MethodRow> rows;
  for (auto group : {DaemonMethods, OpMethods, ImageMethods}) {
    for (auto& row : group(s)) rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace warren::rpc

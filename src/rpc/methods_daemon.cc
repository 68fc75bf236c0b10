// daemon.*: status and liveness.
#include "image/registry.h"
#include "net/tap_pool.h"
#include "vm/vm_manager.h"
#include "rpc/services.h"
#include "rpc/snapshot_lists.h"

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
  if (s.vms != nullptr) {
    Result<std::vector<VmRecord>> vms = s.vms->List();
    if (vms.ok()) {
      size_t running = 0;
      for (const VmRecord& vm : *vms) running += vm.state == VmState::kRunning;
      counts["vms"] = vms->size();
      counts["vms_running"] = running;
    }
  }
  nlohmann::json network = {{"mode", s.network.mode},
                            {"namespace", s.network.netns},
                            {"bridge", s.network.bridge},
                            {"subnet", s.network.subnet},
                            {"dns_domain", s.network.dns_domain},
                            {"dns_host_listen", s.network.dns_host_listen}};
  if (!s.network.uplink.empty()) network["uplink"] = s.network.uplink;
  if (s.tap_pool != nullptr) {
    TapStock::Stats t = s.tap_pool->GetStats();
    network["tap_pool"] = {{"ready", t.ready},
                           {"warm_takes", t.warm_takes},
                           {"cold_takes", t.cold_takes},
                           {"refill_errors", t.refill_errors},
                           {"last_refill_error", t.last_refill_error}};
  }
  nlohmann::json memory = nlohmann::json::object();
  if (s.vms != nullptr) {
    MemoryUsage m = s.vms->Memory();
    const bool limited = m.budget_bytes != MemoryBudget::kUnlimited;
    // null budget/headroom: no budget applies (the host's memory is unknown).
    memory = {{"budget_bytes", limited ? nlohmann::json(m.budget_bytes) : nlohmann::json()},
              {"used_bytes", m.used_bytes},
              {"headroom_bytes", limited ? nlohmann::json(m.headroom_bytes()) : nlohmann::json()},
              {"overhead_bytes", m.overhead_bytes},
              {"vms", m.vms}};
  }
  // The web UI's address, never its token (status output gets pasted around).
  nlohmann::json web = s.web.info ? s.web.info() : nlohmann::json{{"enabled", false}};
  web.erase("url");
  return {
      {"web", web},
      {"version", s.info.version},
      {"pid", s.info.pid},
      {"started_ms", s.info.started_ms},
      {"uptime_ms", s.clock->NowUnixMillis() - s.info.started_ms},
      {"root", s.info.root},
      {"socket", s.info.socket},
      {"accelerator", s.info.accelerator},
      {"counts", counts},
      {"network", network},
      {"memory", memory},
      {"vm_defaults", {{"image", s.config->vm.default_image},
                       {"cpus", s.config->vm.default_cpus},
                       {"memory_mib", s.config->vm.default_memory_mib},
                       {"disk_gib", s.config->vm.default_disk_gib}}},
  };
}

}  // namespace

std::vector<MethodRow> DaemonMethods(const Services& s) {
  return {
      Method<NoParams>("daemon.ping", Mutation::kReadOnly,
                       {.summary = "Checks the daemon answers.", .result = "{}", .errors = {}},
                       [](const NoParams&, CallContext&) -> Result<nlohmann::json> {
                         return nlohmann::json::object();
                       }),
      Method<NoParams>("daemon.health", Mutation::kReadOnly,
                       {.summary = "Runs the daemon's own checks (what `warren doctor` shows).",
                        .result = "{checks: [{name, level, found, fix}]}",
                        .errors = {}},
                       [s](const NoParams&, CallContext&) -> Result<nlohmann::json> {
                         nlohmann::json checks =
                             s.health ? s.health() : nlohmann::json::array();
                         return nlohmann::json{{"checks", checks}};
                       }),
      Method<NoParams>(
          "daemon.status", Mutation::kReadOnly,
          {.summary = "Describes the running daemon: version, root, counts, network, VM defaults.",
           .result = "{version, pid, started_ms, uptime_ms, root, socket, accelerator, counts, "
                     "network, memory: {budget_bytes, used_bytes, headroom_bytes, "
                     "overhead_bytes, vms}, vm_defaults}",
           .errors = {}},
          [s](const NoParams&, CallContext&) -> Result<nlohmann::json> { return StatusJson(s); }),
  };
}

std::vector<MethodRow> AllMethods(const Services& s) {
  std::vector<MethodRow> rows;
  for (auto group : {DaemonMethods, OpMethods, ImageMethods, VmMethods, SnapshotMethods, DnsMethods,
                     SessionMethods, WebMethods, SshMethods}) {
    for (auto& row : group(s)) rows.push_back(std::move(row));
  }
  // events.subscribe's snapshot answers with these rows' own handlers.
  SnapshotSources lists;
  for (const auto& [field, method] : kSnapshotLists) {
    for (const MethodRow& row : rows) {
      if (row.name == method) lists.emplace_back(field, row.handler);
    }
  }
  for (auto& row : EventMethods(s, std::move(lists))) rows.push_back(std::move(row));
  return rows;
}

}  // namespace warren::rpc

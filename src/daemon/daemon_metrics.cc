// GET /metrics (the web listener's, metrics_route.h): what the subsystems
// count, copied out into a metrics::Snapshot and rendered. A scrape reads the
// store's VM rows, the subsystems' atomics and leaf-locked tables, and two
// /proc files per running VM; it takes no per-VM lock and does no guest I/O.
#include <spdlog/spdlog.h>

#include "daemon/daemon.h"
#include "dns/server.h"
#include "metrics/exposition.h"
#include "ops/op_registry.h"
#include "rpc/dispatcher.h"
#include "session/session_registry.h"
#include "vm/vm_manager.h"

namespace warren {
namespace {

constexpr VmState kAllVmStates[] = {VmState::kCreating, VmState::kStarting, VmState::kRunning,
                                    VmState::kStopping, VmState::kStopped,  VmState::kFailed};
constexpr std::string_view kSessionStates[] = {"running", "exited", "killed", "lost"};

std::map<std::string, uint64_t> DnsOutcomes(const DnsServerStats& s) {
  std::map<std::string, uint64_t> out = {{"truncated", s.rate_limited},
                                         {"forwarded", s.forwarded},
                                         {"malformed", s.malformed}};
  // RFC 1035 §4.1.1 RCODEs; the rest (rare, from extensions) together.
  constexpr std::pair<int, std::string_view> kNamed[] = {
      {0, "noerror"}, {1, "formerr"}, {2, "servfail"}, {3, "nxdomain"}, {5, "refused"}};
  uint64_t other = 0;
  for (size_t rcode = 0; rcode < s.by_rcode.size(); ++rcode) {
    bool named = false;
    for (const auto& [code, name] : kNamed) {
      if (static_cast<int>(rcode) == code) {
        out[std::string(name)] = s.by_rcode[rcode];
        named = true;
      }
    }
    if (!named) other += s.by_rcode[rcode];
  }
  out["other_rcode"] = other;
  return out;
}

}  // namespace

void Daemon::CollectVmMetrics(metrics::Snapshot& snap) {
  for (VmState state : kAllVmStates) snap.vms_by_state[std::string(VmStateName(state))] = 0;
  if (!vms_) return;
  Result<std::vector<VmRecord>> vms = vms_->List();
  if (!vms.ok()) {
    spdlog::warn("metrics: cannot list VMs: {}", vms.error().ToString());
    return;
  }
  for (const VmRecord& vm : *vms) {
    ++snap.vms_by_state[std::string(VmStateName(vm.state))];
    if (vm.state != VmState::kRunning || vm.pid <= 0) continue;
    // Gone between the row and the read (it just stopped): no series this time.
    Result<metrics::ProcessUsage> usage = deps_.process_usage(static_cast<pid_t>(vm.pid));
    if (usage.ok()) snap.vm_usage.push_back({vm.name, usage->cpu_seconds, usage->rss_bytes});
  }
}

std::string Daemon::MetricsText() {
  metrics::Snapshot snap;
  CollectVmMetrics(snap);
  for (const OpRegistry::EndedStats& e : ops_->Ended()) {
    snap.ops.push_back({e.kind, std::string(OpStateName(e.state)), e.duration});
  }
  snap.ops_running = ops_->RunningCount();
  for (rpc::MethodCallStats& m : dispatcher_->CallStats()) {
    snap.rpc.push_back({std::move(m.method), std::move(m.calls_by_result), std::move(m.duration)});
  }
  snap.rpc_unknown_method = dispatcher_->UnknownMethodCalls();
  if (tap_pool_) {
    TapStock::Stats t = tap_pool_->GetStats();
    snap.taps = metrics::Snapshot::Taps{t.ready, t.warm_takes, t.cold_takes, t.created,
                                        t.refill_errors};
  }
  if (host_dns_) snap.dns_queries["host"] = DnsOutcomes(host_dns_->stats());
  if (vm_dns_) snap.dns_queries["vm"] = DnsOutcomes(vm_dns_->stats());
  for (std::string_view state : kSessionStates) snap.sessions_by_state[std::string(state)] = 0;
  if (sessions_) {
    for (const SessionInfo& s : sessions_->List("")) ++snap.sessions_by_state[s.state];
  }
  return metrics::Render(snap);
}

}  // namespace warren

// `daemon.health`: the checks only the running daemon can make, which
// `warren doctor` appends to its host checks — the VM namespace and bridge,
// the nat uplink, the TAP pool, both DNS listeners (a real query each) and leftovers.
#include <sys/socket.h>

#include <set>

#include <fmt/ranges.h>

#include "daemon/daemon.h"
#include "dns/listen.h"
#include "dns/probe.h"
#include "net/ip_alloc.h"
#include "net/nat_uplink.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "net/tap_pool.h"
#include "sys/ksm.h"
#include "vm/vm_manager.h"

namespace warren {
namespace {

using json = nlohmann::json;

json Check(const std::string& name, const char* level, const std::string& found,
           const std::string& fix = "") {
  return {{"name", name}, {"level", level}, {"found", found}, {"fix", fix}};
}

// nat mode: the uplink is whole, and no other table's forward chain drops what
// it forwards.
json UplinkCheck(const NetnsHandle& vm_ns, const NatUplinkConfig& u) {
  Status up = CheckNatUplink(vm_ns, u);
  if (!up.ok()) {
    return Check("vm uplink", "FAIL", up.message(), "restart the daemon; it repairs the uplink");
  }
  std::string found = u.host_link + " up, forwarding on, " + u.subnet +
                      " masqueraded (nftables table " + u.nft_table + ")";
  Result<std::vector<std::string>> drops = ForwardDropChains(u.nft_table);
  if (!drops.ok() || drops->empty()) return Check("vm uplink", "PASS", found);
  return Check("vm uplink", "WARN",
               found + ", but forwarded packets meet policy drop in " +
                   fmt::format("{}", fmt::join(*drops, "; ")),
               "let the guest subnet through there, e.g. for iptables: iptables -I FORWARD -s " +
                   u.subnet + " -j ACCEPT; iptables -I FORWARD -d " + u.subnet +
                   " -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT");
}

// Admission control's budget: WARN once less than one default VM fits.
json MemoryCheck(const MemoryUsage& m) {
  if (m.budget_bytes == MemoryBudget::kUnlimited) {
    return Check("vm memory", "WARN", "no memory budget (the host's memory is unknown)",
                 "set [vm] memory_budget, e.g. \"20GiB\"");
  }
  std::string found = FormatBytes(m.used_bytes) + " of the " + FormatBytes(m.budget_bytes) +
                      " budget held by " + std::to_string(m.vms) + " VM(s), " +
                      FormatBytes(m.headroom_bytes()) + " headroom (each VM: --memory + " +
                      FormatBytes(m.overhead_bytes) + " overhead)";
  if (m.headroom_bytes() < (512ull << 20) + m.overhead_bytes) {
    return Check("vm memory", "WARN", found,
                 "new VMs are refused; stop or remove a VM, or raise [vm] memory_budget");
  }
  return Check("vm memory", "PASS", found);
}

// Same-page merging: what it saves now, or how to turn it on. WARN only when
// [vm] ksm asked for it and it is not running.
json KsmCheck(const KsmState& k, bool wanted) {
  if (!k.available) {
    return Check("ksm", wanted ? "WARN" : "PASS", "not available on this host",
                 wanted ? "set [vm] ksm = false" : "");
  }
  if (k.run == 1) {
    return Check("ksm", "PASS",
                 "merging identical guest pages: " + FormatBytes(k.saved_bytes()) + " saved");
  }
  return Check("ksm", wanted ? "WARN" : "PASS",
               "off: guests do not share identical pages",
               wanted ? "the daemon could not turn it on (see its log); as root: echo 1 > "
                        "/sys/kernel/mm/ksm/run"
                      : "for denser idle VMs set [vm] ksm = true (host-wide)");
}

}  // namespace

json Daemon::HealthChecks() {
  json checks = json::array();
  const NetworkConfig& nc = config_.network;
  const IpAllocator& ips = *ips_;
  const std::string gateway = ips.Gateway();

  // The namespace and bridge.
  Result<Netlink> nl = Netlink::OpenIn(*vm_ns_);
  Result<LinkInfo> bridge = nl.ok() ? nl->GetLink(nc.bridge) : Result<LinkInfo>(nl.error());
  std::string where = vm_ns_->Describe();
  if (!bridge.ok()) {
    checks.push_back(Check("vm network", "FAIL", "bridge " + nc.bridge + " in " + where + ": " +
                                                     bridge.error().message(),
                           "restart the daemon; it recreates the bridge"));
  } else {
    Result<std::vector<std::string>> addrs = nl->ListAddresses(bridge->index);
    bool has_gateway = false;
    if (addrs.ok()) {
      for (const std::string& a : *addrs) has_gateway |= a == ips.GatewayCidr();
    }
    if (bridge->up && has_gateway) {
      checks.push_back(Check("vm network", "PASS",
                             nc.mode + " mode: " + where + ", bridge " + nc.bridge + " up with " +
                                 ips.GatewayCidr()));
    } else {
      checks.push_back(Check("vm network", "FAIL",
                             "bridge " + nc.bridge + " in " + where +
                                 (bridge->up ? " lacks " + ips.GatewayCidr() : " is down"),
                             "restart the daemon; it repairs the bridge"));
    }
  }

  // nat mode: the way out.
  if (uplink_) checks.push_back(UplinkCheck(*vm_ns_, *uplink_));

  // The TAP pool.
  TapStock::Stats pool = tap_pool_->GetStats();
  std::string found = std::to_string(pool.ready) + "/" + std::to_string(nc.tap_pool_size) +
                      " ready, " + std::to_string(pool.warm_takes) + " warm and " +
                      std::to_string(pool.cold_takes) + " cold takes";
  if (pool.refill_errors > 0) {
    checks.push_back(Check("tap pool", "WARN",
                           found + "; " + std::to_string(pool.refill_errors) +
                               " refill errors, last: " + pool.last_refill_error,
                           "check /dev/net/tun and CAP_NET_ADMIN (warren doctor's tun check)"));
  } else {
    checks.push_back(Check("tap pool", "PASS", found));
  }

  // The DNS listeners answer a real query (ns.<domain> always has an A).
  if (config_.dns.enabled) {
    const std::string probe_name = "ns." + config_.dns.domain;
    Result<UniqueFd> guest_fd = OpenSocketIn(*vm_ns_, AF_INET, SOCK_DGRAM, 0);
    Result<std::string> guest_side =
        guest_fd.ok() ? ProbeDnsA(std::move(*guest_fd), gateway, 53, probe_name,
                                  std::chrono::seconds(1))
                      : Result<std::string>(guest_fd.error());
    checks.push_back(guest_side.ok()
                         ? Check("dns (guests)", "PASS", gateway + ":53 answers " + probe_name)
                         : Check("dns (guests)", "FAIL", guest_side.error().message(),
                                 "restart the daemon; see its log"));
    if (host_dns_address_.empty()) {
      checks.push_back(Check("dns (host)", "WARN",
                             "not listening on " + config_.dns.host_listen,
                             "set dns.host_listen to a free IPv4:port and restart the daemon"));
    } else {
      Result<std::pair<std::string, uint16_t>> hp = ParseIpv4HostPort(host_dns_address_);
      Result<std::string> host_side = Internal("unparsable " + host_dns_address_);
      if (hp.ok()) {
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        host_side = ProbeDnsA(UniqueFd(fd), hp->first, hp->second, probe_name,
                              std::chrono::seconds(1));
      }
      checks.push_back(host_side.ok()
                           ? Check("dns (host)", "PASS",
                                   host_dns_address_ + " answers " + probe_name)
                           : Check("dns (host)", "FAIL", host_side.error().message(),
                                   "see the daemon's log"));
    }
  }

  // Leftovers: TAPs owned by no VM and not in the pool's stock; VM directories
  // without a VM.
  std::set<std::string> owned;
  std::set<std::string> names;
  Result<std::vector<VmRecord>> vms = vms_->List();
  if (vms.ok()) {
    for (const VmRecord& vm : *vms) {
      if (!vm.tap.empty()) owned.insert(vm.tap);
      names.insert(vm.name);
    }
  }
  std::vector<std::string> stray;
  Result<std::vector<std::string>> taps = tap_pool_->ListTaps();
  size_t unowned = 0;
  if (taps.ok()) {
    for (const std::string& t : *taps) unowned += owned.count(t) == 0;
  }
  if (unowned > pool.ready) {
    stray.push_back(std::to_string(unowned - pool.ready) + " TAP(s) owned by no VM");
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(layout_.vms_dir, ec)) {
    if (vms.ok() && names.count(entry.path().filename().string()) == 0) {
      stray.push_back("directory " + entry.path().string() + " of no VM");
    }
  }
  if (stray.empty()) {
    checks.push_back(Check("leftovers", "PASS", "no stray TAPs or VM directories"));
  } else {
    std::string list;
    for (const std::string& s : stray) list += (list.empty() ? "" : "; ") + s;
    checks.push_back(Check("leftovers", "WARN", list,
                           "restart the daemon (it reaps stray TAPs); remove stray "
                           "directories by hand"));
  }
  checks.push_back(WebCheck());
  checks.push_back(MemoryCheck(vms_->Memory()));
  checks.push_back(KsmCheck(ReadKsm(deps_.ksm_dir), config_.vm.ksm));
  return checks;
}

}  // namespace warren

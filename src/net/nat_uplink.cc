#include "net/nat_uplink.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <sstream>

#include "net/netlink.h"
#include "net/nftables.h"
#include "sys/files.h"

namespace warren {
namespace {

constexpr const char* kForwarding = "/proc/sys/net/ipv4/ip_forward";

// Writes "1" to ip_forward in the calling thread's namespace (/proc/sys/net is
// per namespace, resolved at open time).
Status EnableForwarding() {
  FILE* f = std::fopen(kForwarding, "w");
  if (f == nullptr) return ErrnoError(std::string("open ") + kForwarding, errno);
  bool ok = std::fputs("1\n", f) >= 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return ErrnoError(std::string("write ") + kForwarding, errno);
  return Status::Ok();
}

bool ForwardingOn() {
  Result<std::string> v = ReadFileToString(kForwarding);
  return v.ok() && !v->empty() && (*v)[0] == '1';
}

// The link exists, carries `ip`/30 and is up.
Status EnsureLinkConfigured(Netlink& nl, const std::string& name, const std::string& ip) {
  ASSIGN_OR_RETURN(LinkInfo link, nl.GetLink(name));
  if (link.kind != "veth") {
    return FailedPrecondition("link \"" + name + "\" exists but is a \"" + link.kind +
                              "\", not warren's veth: delete it or use another network.mode");
  }
  RETURN_IF_ERROR(nl.EnsureAddress(link.index, ip + "/30").Annotate("link " + name));
  if (!link.up) {
    LinkChange up;
    up.up = true;
    RETURN_IF_ERROR(nl.SetLink(name, up));
  }
  return Status::Ok();
}

Status EnsureRoute(Netlink& nl, const std::string& dst, const std::string& via) {
  Status st = nl.AddRoute(dst, via);
  // An existing route to the destination is left alone: ours from an earlier
  // run, or the operator's (which then wins, and `doctor` shows what fails).
  if (st.code() == Code::kAlreadyExists) return Status::Ok();
  return st;
}

std::string MasqueradeScript(const NatUplinkConfig& c) {
  // Replaced whole in one batch: "add" makes the delete valid on a first run.
  return "add table ip " + c.nft_table + "\n" +
         "delete table ip " + c.nft_table + "\n" +
         "table ip " + c.nft_table + " {\n"
         "  chain postrouting {\n"
         "    type nat hook postrouting priority srcnat; policy accept;\n"
         "    ip saddr " + c.subnet + " oifname != \"" + c.host_link + "\" masquerade\n"
         "  }\n"
         "}\n";
}

}  // namespace

NatUplinkConfig NatUplinkFor(uint32_t netns_hash, std::string_view subnet_cidr) {
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", netns_hash);
  // 169.254.<1..254 but not 169>.<4k>/30: 169.254.169.254 is a cloud metadata address.
  unsigned third = 1 + netns_hash % 254;
  if (third == 169) third = 170;
  unsigned base = ((netns_hash >> 8) % 64) * 4;
  auto ip = [&](unsigned host) {
    return "169.254." + std::to_string(third) + "." + std::to_string(base + host);
  };
  NatUplinkConfig c;
  c.host_link = std::string("wn-") + hex;
  c.vm_link = "uplink0";
  c.host_ip = ip(1);
  c.vm_ip = ip(2);
  c.subnet = std::string(subnet_cidr);
  c.nft_table = std::string("warren_") + hex;
  return c;
}

Status EnsureNatUplink(const NetnsHandle& vm_ns, const NatUplinkConfig& c) {
  ASSIGN_OR_RETURN(Netlink host, Netlink::OpenHere());
  ASSIGN_OR_RETURN(Netlink vm, Netlink::OpenIn(vm_ns));
  Result<LinkInfo> existing = host.GetLink(c.host_link);
  if (!existing.ok() && existing.error().code() == Code::kNotFound) {
    // A veth pair dies whole, so a lone vm_link is not ours: clear the name.
    Status gone = vm.DeleteLink(c.vm_link);
    if (!gone.ok() && gone.code() != Code::kNotFound) return gone.Annotate(vm_ns.Describe());
    RETURN_IF_ERROR(host.AddVethPair(c.host_link, c.vm_link, vm_ns.fd()));
    spdlog::info("nat: created veth {} ↔ {} in {}", c.host_link, c.vm_link, vm_ns.Describe());
  } else if (!existing.ok()) {
    return existing.error();
  }
  RETURN_IF_ERROR(EnsureLinkConfigured(host, c.host_link, c.host_ip));
  RETURN_IF_ERROR(EnsureLinkConfigured(vm, c.vm_link, c.vm_ip).Annotate(vm_ns.Describe()));
  RETURN_IF_ERROR(EnsureRoute(vm, "0.0.0.0/0", c.host_ip).Annotate(vm_ns.Describe()));
  RETURN_IF_ERROR(EnsureRoute(host, c.subnet, c.vm_ip));
  RETURN_IF_ERROR(EnableForwarding());
  RETURN_IF_ERROR(RunInNetns(vm_ns.fd(), [] { return EnableForwarding(); })
                      .Annotate(vm_ns.Describe()));
  RETURN_IF_ERROR(RunNft(MasqueradeScript(c)).status().Annotate("masquerade for " + c.subnet));
  return Status::Ok();
}

Status RemoveNatUplink(const NatUplinkConfig& c) {
  ASSIGN_OR_RETURN(Netlink host, Netlink::OpenHere());
  Status link = host.DeleteLink(c.host_link);
  if (!link.ok() && link.code() != Code::kNotFound) return link;
  Result<std::string> table = RunNft("delete table ip " + c.nft_table + "\n");
  if (table.ok() || table.error().code() == Code::kNotFound) return Status::Ok();
  // With no veth there is no way out, so a host where nftables cannot even be
  // asked (no nf_tables in the kernel) is fine for the modes that never made one.
  if (link.code() == Code::kNotFound) return Status::Ok();
  return table.error();
}

Result<std::vector<std::string>> ForwardDropChains(std::string_view own_table) {
  ASSIGN_OR_RETURN(std::string ruleset, RunNft("list ruleset\n"));
  // nft prints one statement per line: "table ip filter {", "\tchain FORWARD {",
  // "\t\ttype filter hook forward priority filter; policy drop;".
  std::vector<std::string> out;
  std::string table, chain;
  std::istringstream lines(ruleset);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first;
    words >> first;
    if (first == "table") {
      std::string family, name;
      words >> family >> name;
      table = family + " " + name;
      if (name == own_table) table.clear();
    } else if (first == "chain") {
      words >> chain;
    } else if (!table.empty() && line.find("hook forward") != std::string::npos &&
               line.find("policy drop") != std::string::npos) {
      out.push_back("table " + table + ", chain " + chain);
    }
  }
  return out;
}

Status CheckNatUplink(const NetnsHandle& vm_ns, const NatUplinkConfig& c) {
  ASSIGN_OR_RETURN(Netlink host, Netlink::OpenHere());
  ASSIGN_OR_RETURN(LinkInfo link, host.GetLink(c.host_link));
  if (!link.up) return FailedPrecondition("veth " + c.host_link + " is down");
  if (!ForwardingOn()) return FailedPrecondition("IPv4 forwarding is off in the host namespace");
  Result<bool> vm_forwarding = RunInNetns(vm_ns.fd(), []() -> Result<bool> { return ForwardingOn(); });
  if (!vm_forwarding.ok()) return vm_forwarding.error();
  if (!*vm_forwarding) {
    return FailedPrecondition("IPv4 forwarding is off in " + vm_ns.Describe());
  }
  Result<std::string> table = RunNft("list table ip " + c.nft_table + "\n");
  if (!table.ok()) return table.error().Annotate("masquerade table");
  if (table->find("masquerade") == std::string::npos) {
    return FailedPrecondition("nftables table " + c.nft_table + " has no masquerade rule");
  }
  return Status::Ok();
}

}  // namespace warren

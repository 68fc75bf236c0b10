// dns.*: the VM name records and how to point the host's resolver at them.
#include "dns/records.h"
#include "net/ip_alloc.h"
#include "rpc/services.h"

namespace warren::rpc {
namespace {

using json = nlohmann::json;

// The commands that make the host resolve NAME.<domain> through warren.
// isolated: the bridge is not in the host's namespace, so systemd-resolved gets
// the loopback listener as a routing-only domain's server (drop-in file).
// host: the bridge is a host link, so per-link settings fit.
json ResolverSetup(const NetworkInfo& n) {
  json out = json::object();
  if (n.dns_domain.empty()) return out;
  if (n.mode == "host") {
    Result<IpAllocator> ips = IpAllocator::Create(n.subnet);
    if (ips.ok()) {
      out["systemd_resolved"] = "resolvectl dns " + n.bridge + " " + ips->Gateway() +
                                " && resolvectl domain " + n.bridge + " '~" + n.dns_domain + "'";
    }
    return out;
  }
  if (n.dns_host_listen.empty()) return out;
  out["systemd_resolved"] =
      "mkdir -p /etc/systemd/resolved.conf.d && printf '[Resolve]\\nDNS=" + n.dns_host_listen +
      "\\nDomains=~" + n.dns_domain +
      "\\n' > /etc/systemd/resolved.conf.d/warren.conf && systemctl restart systemd-resolved";
  const size_t colon = n.dns_host_listen.rfind(':');
  out["dig"] = "dig @" + n.dns_host_listen.substr(0, colon) + " -p " +
               n.dns_host_listen.substr(colon + 1) + " NAME." + n.dns_domain;
  return out;
}

}  // namespace

std::vector<MethodRow> DnsMethods(const Services& s) {
  return {
      Method<NoParams>(
          "dns.list", Mutation::kReadOnly,
          {.summary = "Lists the VM DNS records and how to point the host's resolver at them.",
           .result = "{enabled, domain, host_listen, mode, records: [{name, fqdn, ipv4}], setup}",
           .errors = {}},
          [s](const NoParams&, CallContext&) -> Result<json> {
            json records = json::array();
            if (s.dns_records != nullptr && !s.network.dns_domain.empty()) {
              for (const DnsEntry& e : s.dns_records->Snapshot()) {
                records.push_back({{"name", e.name},
                                   {"fqdn", e.name + "." + s.network.dns_domain},
                                   {"ipv4", e.ipv4}});
              }
            }
            return json{{"enabled", !s.network.dns_domain.empty()},
                        {"domain", s.network.dns_domain},
                        {"host_listen", s.network.dns_host_listen},
                        {"mode", s.network.mode},
                        {"records", records},
                        {"setup", ResolverSetup(s.network)}};
          }),
  };
}

}  // namespace warren::rpc

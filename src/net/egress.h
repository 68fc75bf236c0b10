#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace warren {

// What a VM may reach outside its own guest network (the `egress`
// capability): everything (`all`, the nat mode's default), nothing but the
// daemon's DNS (`none`), or only the given IPv4 ranges (plus the DNS).
struct EgressPolicy {
  enum class Kind { kAll, kNone, kCidrs };
  Kind kind = Kind::kAll;
  // kCidrs: canonical "a.b.c.d/n" (host bits clear), sorted, none inside
  // another (nftables refuses overlapping intervals in one set).
  std::vector<std::string> cidrs;

  // The canonical spec: "all", "none" or "10.0.0.0/8,192.0.2.0/24".
  std::string Spec() const;
  bool operator==(const EgressPolicy&) const = default;
};

// Parses "none" | "all" | "CIDR[,CIDR...]" (a bare address is a /32; spaces
// around commas are allowed). InvalidArgument naming the bad part and the fix:
// an IPv6 range, host bits set ("did you mean 10.0.0.0/8?"), none/all mixed
// with ranges, an empty spec, more than kMaxEgressCidrs ranges.
inline constexpr size_t kMaxEgressCidrs = 64;
Result<EgressPolicy> ParseEgressSpec(std::string_view spec);

// Where a VM's rules apply: all names in the VM namespace.
struct EgressTarget {
  std::string vm_id;    // names the VM's tables
  std::string tap;      // the VM's TAP this boot
  std::string ip;       // the guest's leased address
  std::string bridge;   // the bridge the TAP is a port of
  std::string gateway;  // the bridge's address, where the daemon answers DNS
};

// "warren_egress_<vm id>" (nft identifiers take no '-').
std::string EgressTableName(std::string_view vm_id);

// The nftables script (one atomic batch, run in the VM namespace) that
// replaces the VM's rules whole, so running it again never duplicates a rule.
// Two tables of the VM's own, both named EgressTableName:
// - `bridge`: at the TAP (by ifindex, so a later TAP of the same name is never
//   matched by a stale rule), IPv4 whose source is not the guest's address is
//   dropped, and all IPv6: the guest cannot leave its address to escape.
// - `ip`: what the guest's address sends to be routed (forward) or to the
//   namespace itself (input): replies to connections made towards it pass,
//   DNS to the gateway (UDP and TCP) passes, the allowed ranges pass, the rest
//   is rejected (admin-prohibited, so clients fail at once, not by timeout).
// Traffic between guests on the bridge is not routed and stays allowed.
// `policy.kind` must not be kAll (CHECKed): `all` is EgressRemoveScript.
std::string EgressInstallScript(const EgressTarget& target, const EgressPolicy& policy);

// Removes the VM's tables; succeeds whether or not they exist.
std::string EgressRemoveScript(std::string_view vm_id);

}  // namespace warren

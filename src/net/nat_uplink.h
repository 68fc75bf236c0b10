#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/netns.h"

namespace warren {

// The `nat` network mode's way out: a veth pair from the daemon's own
// namespace (the "host" side) into the VM namespace, a /30 link between the
// two ends, a default route in the VM namespace through it, a route back to the
// guest subnet in the host namespace, IPv4 forwarding on in both, and an
// nftables table in the host namespace that masquerades guest traffic leaving
// through any other interface. Guests thus reach whatever the host reaches;
// the host reaches guests by IP; nothing outside the host sees the guest subnet.
//
//   guest ─ TAP ─ bridge ┆ VM ns ── vm_link ═══ host_link ┆ host ns ─ (masquerade) → out
struct NatUplinkConfig {
  std::string host_link;  // veth end in the host namespace, e.g. "wn-1a2b3c4d"
  std::string vm_link;    // its peer in the VM namespace, "uplink0"
  std::string host_ip;    // e.g. "169.254.77.1" (the VM namespace's default gateway)
  std::string vm_ip;      // e.g. "169.254.77.2" (the host's next hop to the guests)
  std::string subnet;     // the guest subnet, "10.77.0.0/24"
  std::string nft_table;  // family ip, e.g. "warren_1a2b3c4d"
};

// Names and link addresses for a VM namespace, stable across restarts: the veth
// and table names carry `netns_hash`; the /30 comes from 169.254.0.0/16 (never
// routed off a host), chosen by the same hash so two daemons' uplinks differ.
NatUplinkConfig NatUplinkFor(uint32_t netns_hash, std::string_view subnet_cidr);

// Makes the uplink exist as described, checking before each step, so it is run
// at every daemon start and repairs a half-made uplink. The calling thread's
// namespace is the host side. Errors: FailedPrecondition when `host_link`
// exists but is not a veth (names it and the fix), or on missing privilege;
// netlink and nftables errors otherwise.
Status EnsureNatUplink(const NetnsHandle& vm_ns, const NatUplinkConfig& config);

// Removes the host end (its peer and routes go with it) and the nftables table.
// Absent parts are not an error, nor is an nftables failure when there was no
// veth (so it is safe to call where nftables is unavailable). IPv4 forwarding is left on: other software
// on the host may rely on it.
Status RemoveNatUplink(const NatUplinkConfig& config);

// What `daemon.health` reports: Ok when the host end is up, forwarding is on
// in both namespaces and the masquerade table is loaded; otherwise an error
// naming the first missing part.
Status CheckNatUplink(const NetnsHandle& vm_ns, const NatUplinkConfig& config);

// Base chains of other nftables tables on the forward hook whose policy is
// drop, as "table ip filter, chain FORWARD" (docker and many firewalls install
// one). Such a chain drops guest traffic whatever warren's table does, unless
// it accepts it itself; `daemon.health` warns with the fix. Calling thread's
// namespace; `own_table` is skipped.
Result<std::vector<std::string>> ForwardDropChains(std::string_view own_table);

}  // namespace warren

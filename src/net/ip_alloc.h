#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "base/status.h"

namespace warren {

// Hands out guest IPv4 addresses from the configured subnet: the lowest free
// host address, skipping the network address, the gateway (the first host,
// which the bridge carries) and the broadcast address.
//
// Pure logic: which addresses are leased is the caller's business (the VM
// registry keeps leases in the store and passes them in). Immutable after
// construction, hence thread-safe.
class IpAllocator {
 public:
  // `cidr` is "10.77.0.0/24"; host bits are ignored ("10.77.0.1/24" means the same).
  // The prefix must be 8..30: shorter ones would make MacForIp collide, longer ones
  // leave no guest address.
  static Result<IpAllocator> Create(std::string_view cidr);

  // Lowest address not in `in_use`. ResourceExhausted when none is left, naming the
  // subnet and the fix (a larger subnet).
  Result<std::string> Allocate(const std::set<std::string>& in_use) const;
  // True if `ip` may be leased to a guest (inside the subnet, not reserved).
  bool IsGuestAddress(std::string_view ip) const;

  std::string Cidr() const;         // "10.77.0.0/24"
  std::string Gateway() const;      // "10.77.0.1"
  std::string GatewayCidr() const;  // "10.77.0.1/24", the bridge's address
  int prefix_len() const { return prefix_len_; }

 private:
  IpAllocator(uint32_t network, int prefix_len) : network_(network), prefix_len_(prefix_len) {}
  uint32_t Broadcast() const;

  uint32_t network_;  // host byte order
  int prefix_len_;
};

// Parses dotted-quad IPv4 into host byte order.
Result<uint32_t> ParseIpv4(std::string_view ip);
std::string FormatIpv4(uint32_t ip);

// A stable, locally administered unicast MAC for a guest IP: 52:54:00 followed by
// the IP's last three octets ("10.77.0.5" -> "52:54:00:4d:00:05"), so a VM keeps its
// MAC across restarts and two guests of one subnet (prefix >= 8) never share one.
Result<std::string> MacForIp(std::string_view ip);

}  // namespace warren

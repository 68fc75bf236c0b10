#pragma once

#include <string>

#include "base/status.h"
#include "net/netlink.h"
#include "net/netns.h"

namespace warren {

struct BridgeConfig {
  std::string name;          // e.g. "wbr0" (at most 15 characters)
  std::string address_cidr;  // the subnet's first host, e.g. "10.77.0.1/24"
};

// Makes sure the bridge exists, carries `address_cidr` and is up, in the
// namespace `nl` is bound to; also brings loopback up there. Idempotent: each
// step checks before acting, so it is what the daemon runs at every start, and
// it repairs a half-made bridge after a crash. Other addresses on the bridge
// are left alone.
//
// The bridge gets a fixed MAC derived from its address (MacForIp). Left alone,
// a Linux bridge borrows the lowest MAC among its ports and changes it as TAPs
// come and go, which leaves guests with a stale ARP entry for their gateway.
//
// Errors: FailedPrecondition if `name` exists but is not a bridge (names the
// link and the fix); InvalidArgument for a malformed address; netlink errors.
// Thread-safety: as safe as `nl` (one owner thread).
Status EnsureBridge(Netlink& nl, const BridgeConfig& config);

// Same, opening a netlink socket inside `ns` first.
Status EnsureBridgeIn(const NetnsHandle& ns, const BridgeConfig& config);

}  // namespace warren

#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/mac.h"
#include "net/netlink.h"
#include "sys/unique_fd.h"

namespace warren {

// A TAP device and an open fd on it, which is what QEMU gets
// (`-netdev tap,fd=N`). The fd is O_CLOEXEC: whoever spawns QEMU must pass it
// on explicitly. The device is persistent, so closing the fd does not remove it;
// Netlink::DeleteLink (TapPool::Release) does.
struct Tap {
  std::string name;
  UniqueFd fd;
};

// The flags every warren TAP is made with:
//  - IFF_TAP: Ethernet frames, so the device can sit on a bridge.
//  - IFF_NO_PI: no 4-byte packet-info prefix; QEMU's tap backend expects none.
//  - IFF_VNET_HDR: QEMU finds it with TUNGETIFF and then passes virtio-net's header
//    through, so checksum and TSO/GSO offloads reach the guest (without it every
//    segment is checksummed and split on the host; throughput drops several-fold).
//  - IFF_TUN_EXCL: fail with EBUSY instead of silently attaching to an existing
//    device of that name, which may be a running VM's.
int TapFlags();

// Creates persistent TAP `name` in the CALLING THREAD's network namespace (call it
// from a thread that setns()ed there, or inside RunInNetns), enslaves it to
// `bridge` and brings it up. `nl` must be bound to the same namespace. On failure
// nothing is left behind. AlreadyExists if the name is taken.
Result<Tap> CreateTapHere(Netlink& nl, std::string_view name, std::string_view bridge);

// Sets the TAP's own (host-side) MAC with SIOCSIFHWADDR on its fd: no netlink, no
// namespace switch, works while the device is up and on the bridge.
Status SetTapMac(int tap_fd, const MacAddress& mac);

// The host-side MAC for a guest's TAP: the guest MAC with its first octet set to
// 0xfe (libvirt's convention). It must differ from the guest's own MAC: the bridge
// installs each port's MAC as a local FDB entry and would swallow frames meant for
// the guest; and 0xfe keeps it above any guest MAC so it never becomes the bridge's.
MacAddress TapMacFor(const MacAddress& guest_mac);

// Names of the tun/tap links whose name is `prefix` followed by digits.
Result<std::vector<std::string>> ListTapsWithPrefix(Netlink& nl, std::string_view prefix);

}  // namespace warren

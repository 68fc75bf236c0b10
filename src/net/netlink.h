#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/mac.h"
#include "net/netns.h"

struct nl_sock;

namespace warren {

// One network interface as the kernel reports it.
struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;      // "bridge", "tun", "veth", ... ("" for loopback and the like)
  int master_index = 0;  // the bridge this link is enslaved to; 0 if none
  bool up = false;       // administratively up (IFF_UP)
  MacAddress mac{};
};

// What SetLink changes; unset fields are left alone.
struct LinkChange {
  std::optional<int> master_index;  // enslave to this bridge
  std::optional<bool> up;
  std::optional<MacAddress> mac;
};

// A NETLINK_ROUTE socket (libnl-route-3) bound to one network namespace: the
// namespace of the thread that opened it, for its whole life, whichever thread
// later uses it. All of warren's link/address changes go through here, never
// through `ip` subprocesses.
//
// Not thread-safe (libnl sockets keep sequence state): one owner thread at a
// time. Opening one costs a socket() and, with OpenIn, a short-lived thread.
// Errors name the link and carry libnl's message; a missing link is NotFound,
// an existing one AlreadyExists.
class Netlink {
 public:
  // In the calling thread's namespace.
  static Result<Netlink> OpenHere();
  // In `ns`, via a short-lived thread (see RunInNetns).
  static Result<Netlink> OpenIn(const NetnsHandle& ns);

  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  ~Netlink();

  Result<LinkInfo> GetLink(std::string_view name);
  Result<std::vector<LinkInfo>> ListLinks();
  // Creates a bridge (down, no address). AlreadyExists if the name is taken.
  Status AddBridge(std::string_view name);
  // Creates a veth pair (both ends down): `name` in this socket's namespace,
  // `peer` inside the namespace `peer_netns_fd` refers to. AlreadyExists if
  // either name is taken on its side.
  Status AddVethPair(std::string_view name, std::string_view peer, int peer_netns_fd);
  Status SetLink(std::string_view name, const LinkChange& change);
  Status DeleteLink(std::string_view name);
  // Adds "10.77.0.1/24" to the link. AlreadyExists if it is already there.
  Status AddAddress(int ifindex, std::string_view cidr);
  // Adds the address unless the link already carries it (what every start
  // runs, so it repairs a half-configured link).
  Status EnsureAddress(int ifindex, std::string_view cidr);
  // IPv4 addresses on the link as "10.77.0.1/24".
  Result<std::vector<std::string>> ListAddresses(int ifindex);
  // Adds the IPv4 route `dst_cidr` ("10.77.0.0/24", or "0.0.0.0/0" for the
  // default route) via `gateway` to the main table. AlreadyExists if that
  // destination already has a route.
  Status AddRoute(std::string_view dst_cidr, std::string_view gateway);

 private:
  struct SockDeleter {
    void operator()(nl_sock* sock) const;
  };
  explicit Netlink(std::unique_ptr<nl_sock, SockDeleter> sock) : sock_(std::move(sock)) {}

  std::unique_ptr<nl_sock, SockDeleter> sock_;
};

}  // namespace warren

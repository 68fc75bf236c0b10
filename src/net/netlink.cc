#include "net/netlink.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <algorithm>
#include <cstring>

namespace warren {
namespace {

// libnl objects are reference counted; these hold one reference each.
struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct NlAddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;

// `text` as an IPv4 address or CIDR; InvalidArgument(`error`) if it is neither.
Result<NlAddrPtr> ParseIpv4(const std::string& text, std::string error) {
  nl_addr* raw = nullptr;
  if (nl_addr_parse(text.c_str(), AF_INET, &raw) < 0) return InvalidArgument(std::move(error));
  return NlAddrPtr(raw);
}

// Maps a negative libnl error to a Status naming what was being done.
Status NlError(const std::string& what, int err) {
  std::string msg = what + ": " + nl_geterror(err);
  switch (-err) {
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return NotFound(msg);
    case NLE_EXIST:
      return AlreadyExists(msg);
    case NLE_PERM:
      return FailedPrecondition(msg + " (needs CAP_NET_ADMIN: run the daemon as root)");
    default:
      return Internal(msg);
  }
}

LinkInfo ToInfo(rtnl_link* link) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(link);
  if (const char* name = rtnl_link_get_name(link)) info.name = name;
  if (const char* kind = rtnl_link_get_type(link)) info.kind = kind;
  info.master_index = rtnl_link_get_master(link);
  info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  if (nl_addr* addr = rtnl_link_get_addr(link); addr && nl_addr_get_len(addr) == info.mac.size()) {
    std::memcpy(info.mac.data(), nl_addr_get_binary_addr(addr), info.mac.size());
  }
  return info;
}

// A link object carrying only the name: the key for change and delete requests.
// Leaving out the kind matters: tun devices reject RTM_NEWLINK with IFLA_INFO_KIND.
LinkPtr LinkByName(std::string_view name) {
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), std::string(name).c_str());
  return link;
}

}  // namespace

void Netlink::SockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

Netlink::Netlink(Netlink&&) noexcept = default;
Netlink& Netlink::operator=(Netlink&&) noexcept = default;
Netlink::~Netlink() = default;

Result<Netlink> Netlink::OpenHere() {
  std::unique_ptr<nl_sock, SockDeleter> sock(nl_socket_alloc());
  if (!sock) return Internal("allocate a netlink socket: out of memory");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return NlError("connect a NETLINK_ROUTE socket", err);
  }
  return Netlink(std::move(sock));
}

Result<Netlink> Netlink::OpenIn(const NetnsHandle& ns) {
  return RunInNetns(ns.fd(), [] { return OpenHere(); });
}

Result<LinkInfo> Netlink::GetLink(std::string_view name) {
  rtnl_link* raw = nullptr;
  std::string n(name);
  if (int err = rtnl_link_get_kernel(sock_.get(), 0, n.c_str(), &raw); err < 0) {
    return NlError("look up link \"" + n + "\"", err);
  }
  LinkPtr link(raw);
  return ToInfo(link.get());
}

Result<std::vector<LinkInfo>> Netlink::ListLinks() {
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &raw); err < 0) {
    return NlError("list links", err);
  }
  CachePtr cache(raw);
  std::vector<LinkInfo> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj; obj = nl_cache_get_next(obj)) {
    out.push_back(ToInfo(reinterpret_cast<rtnl_link*>(obj)));
  }
  return out;
}

Status Netlink::AddBridge(std::string_view name) {
  std::string n(name);
  if (int err = rtnl_link_bridge_add(sock_.get(), n.c_str()); err < 0) {
    return NlError("create bridge \"" + n + "\"", err);
  }
  return Status::Ok();
}

Status Netlink::AddVethPair(std::string_view name, std::string_view peer, int peer_netns_fd) {
  std::string n(name), p(peer);
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return Internal("allocate a veth link: out of memory");
  rtnl_link_set_name(link.get(), n.c_str());
  LinkPtr peer_link(rtnl_link_veth_get_peer(link.get()));  // takes a reference
  rtnl_link_set_name(peer_link.get(), p.c_str());
  rtnl_link_set_ns_fd(peer_link.get(), peer_netns_fd);
  if (int err = rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return NlError("create veth pair \"" + n + "\" / \"" + p + "\"", err);
  }
  return Status::Ok();
}

Status Netlink::SetLink(std::string_view name, const LinkChange& change) {
  ASSIGN_OR_RETURN(LinkInfo current, GetLink(name));
  LinkPtr orig(rtnl_link_alloc());
  rtnl_link_set_ifindex(orig.get(), current.index);
  LinkPtr want(rtnl_link_alloc());
  if (change.master_index) rtnl_link_set_master(want.get(), *change.master_index);
  if (change.up.has_value()) {
    if (*change.up) {
      rtnl_link_set_flags(want.get(), IFF_UP);
    } else {
      rtnl_link_unset_flags(want.get(), IFF_UP);
    }
  }
  if (change.mac) {
    NlAddrPtr addr(nl_addr_build(AF_LLC, change.mac->data(), change.mac->size()));
    rtnl_link_set_addr(want.get(), addr.get());
  }
  if (int err = rtnl_link_change(sock_.get(), orig.get(), want.get(), 0); err < 0) {
    return NlError("change link \"" + std::string(name) + "\"", err);
  }
  return Status::Ok();
}

Status Netlink::DeleteLink(std::string_view name) {
  LinkPtr link = LinkByName(name);
  if (int err = rtnl_link_delete(sock_.get(), link.get()); err < 0) {
    return NlError("delete link \"" + std::string(name) + "\"", err);
  }
  return Status::Ok();
}

Status Netlink::AddAddress(int ifindex, std::string_view cidr) {
  std::string text(cidr);
  ASSIGN_OR_RETURN(NlAddrPtr local,
                   ParseIpv4(text, "address \"" + text + "\" is not IPv4 CIDR like 10.77.0.1/24"));
  AddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), AF_INET);
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0) {
    return NlError("set address " + text, err);
  }
  rtnl_addr_set_prefixlen(addr.get(), nl_addr_get_prefixlen(local.get()));
  if (int err = rtnl_addr_add(sock_.get(), addr.get(), NLM_F_EXCL); err < 0) {
    return NlError("add address " + text + " to link #" + std::to_string(ifindex), err);
  }
  return Status::Ok();
}

Status Netlink::AddRoute(std::string_view dst_cidr, std::string_view gateway) {
  const std::string dst_text(dst_cidr), via_text(gateway);
  ASSIGN_OR_RETURN(NlAddrPtr dst, ParseIpv4(dst_text, "\"" + dst_text +
                                                          "\" is not an IPv4 CIDR like 10.77.0.0/24"));
  ASSIGN_OR_RETURN(NlAddrPtr via,
                   ParseIpv4(via_text, "\"" + via_text + "\" is not an IPv4 address"));
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0) {
    return NlError("route to " + dst_text, err);
  }
  rtnl_nexthop* hop = rtnl_route_nh_alloc();  // owned by the route once added
  rtnl_route_nh_set_gateway(hop, via.get());
  rtnl_route_add_nexthop(route.get(), hop);
  if (int err = rtnl_route_add(sock_.get(), route.get(), NLM_F_EXCL); err < 0) {
    return NlError("add route " + dst_text + " via " + via_text, err);
  }
  return Status::Ok();
}

Status Netlink::EnsureAddress(int ifindex, std::string_view cidr) {
  ASSIGN_OR_RETURN(std::vector<std::string> addrs, ListAddresses(ifindex));
  if (std::find(addrs.begin(), addrs.end(), cidr) != addrs.end()) return Status::Ok();
  Status st = AddAddress(ifindex, cidr);
  return st.code() == Code::kAlreadyExists ? Status::Ok() : st;
}

Result<std::vector<std::string>> Netlink::ListAddresses(int ifindex) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_addr_alloc_cache(sock_.get(), &raw); err < 0) {
    return NlError("list addresses", err);
  }
  CachePtr cache(raw);
  std::vector<std::string> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj; obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    if (rtnl_addr_get_ifindex(addr) != ifindex || rtnl_addr_get_family(addr) != AF_INET) continue;
    nl_addr* local = rtnl_addr_get_local(addr);
    if (!local || nl_addr_get_len(local) != 4) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, nl_addr_get_binary_addr(local), buf, sizeof(buf));
    out.push_back(std::string(buf) + "/" + std::to_string(rtnl_addr_get_prefixlen(addr)));
  }
  return out;
}

}  // namespace warren

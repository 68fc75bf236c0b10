#include "net/bridge.h"

#include <spdlog/spdlog.h>

#include "net/ip_alloc.h"

namespace warren {
namespace {

Result<MacAddress> BridgeMac(const std::string& address_cidr) {
  ASSIGN_OR_RETURN(IpAllocator subnet, IpAllocator::Create(address_cidr));
  std::string ip = address_cidr.substr(0, address_cidr.find('/'));
  ASSIGN_OR_RETURN(std::string mac, MacForIp(ip));
  (void)subnet;  // parsed only to validate the CIDR before touching the kernel
  return ParseMac(mac);
}

Status EnsureLoopbackUp(Netlink& nl) {
  ASSIGN_OR_RETURN(LinkInfo lo, nl.GetLink("lo"));
  if (lo.up) return Status::Ok();
  LinkChange up;
  up.up = true;
  return nl.SetLink("lo", up);
}

}  // namespace

Status EnsureBridge(Netlink& nl, const BridgeConfig& config) {
  ASSIGN_OR_RETURN(MacAddress mac, BridgeMac(config.address_cidr));
  RETURN_IF_ERROR(EnsureLoopbackUp(nl));

  Result<LinkInfo> link = nl.GetLink(config.name);
  if (!link.ok() && link.error().code() == Code::kNotFound) {
    Status added = nl.AddBridge(config.name);
    if (!added.ok() && added.code() != Code::kAlreadyExists) return added;
    spdlog::info("created bridge {}", config.name);
    link = nl.GetLink(config.name);
  }
  if (!link.ok()) return link.error();
  if (link->kind != "bridge") {
    return FailedPrecondition("link \"" + config.name + "\" exists but is a \"" + link->kind +
                              "\", not a bridge: delete it or configure another bridge name");
  }

  RETURN_IF_ERROR(nl.EnsureAddress(link->index, config.address_cidr)
                      .Annotate("bridge " + config.name));

  LinkChange change;
  if (link->mac != mac) change.mac = mac;
  if (!link->up) change.up = true;
  if (change.mac || change.up) RETURN_IF_ERROR(nl.SetLink(config.name, change));
  return Status::Ok();
}

Status EnsureBridgeIn(const NetnsHandle& ns, const BridgeConfig& config) {
  ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenIn(ns));
  return EnsureBridge(nl, config).Annotate(ns.Describe());
}

}  // namespace warren

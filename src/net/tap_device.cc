#include "net/tap_device.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace warren {

int TapFlags() { return IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL; }

Result<Tap> CreateTapHere(Netlink& nl, std::string_view name, std::string_view bridge) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return InvalidArgument("TAP name \"" + std::string(name) + "\" must be 1-15 characters");
  }
  ASSIGN_OR_RETURN(LinkInfo br, nl.GetLink(bridge));
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open /dev/net/tun (is the tun module loaded?)", errno);

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = static_cast<short>(TapFlags());
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
    if (errno == EBUSY || errno == EEXIST) {
      return AlreadyExists("TAP \"" + std::string(name) + "\" already exists");
    }
    return ErrnoError("create TAP \"" + std::string(name) + "\" (TUNSETIFF)", errno);
  }
  // From here on the device exists; until it is persistent, closing fd removes it.
  if (::ioctl(fd.get(), TUNSETPERSIST, 1) != 0) {
    return ErrnoError("make TAP \"" + std::string(name) + "\" persistent", errno);
  }
  LinkChange attach;
  attach.master_index = br.index;
  attach.up = true;
  Status attached = nl.SetLink(name, attach);
  if (!attached.ok()) {
    ::ioctl(fd.get(), TUNSETPERSIST, 0);  // closing fd then removes the device
    return attached.Annotate("attach TAP to bridge \"" + std::string(bridge) + "\"");
  }
  return Tap{std::string(name), std::move(fd)};
}

Status SetTapMac(int tap_fd, const MacAddress& mac) {
  ifreq ifr{};
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  std::memcpy(ifr.ifr_hwaddr.sa_data, mac.data(), mac.size());
  if (::ioctl(tap_fd, SIOCSIFHWADDR, &ifr) != 0) {
    return ErrnoError("set TAP MAC " + FormatMac(mac), errno);
  }
  return Status::Ok();
}

MacAddress TapMacFor(const MacAddress& guest_mac) {
  MacAddress mac = guest_mac;
  mac[0] = 0xfe;
  return mac;
}

Result<std::vector<std::string>> ListTapsWithPrefix(Netlink& nl, std::string_view prefix) {
  ASSIGN_OR_RETURN(std::vector<LinkInfo> links, nl.ListLinks());
  std::vector<std::string> out;
  for (const LinkInfo& link : links) {
    std::string_view n = link.name;
    if (link.kind != "tun" || !n.starts_with(prefix) || n.size() == prefix.size()) continue;
    if (n.substr(prefix.size()).find_first_not_of("0123456789") != std::string_view::npos) continue;
    out.push_back(link.name);
  }
  return out;
}

}  // namespace warren

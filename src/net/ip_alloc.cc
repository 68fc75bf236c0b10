#include "net/ip_alloc.h"

#include <arpa/inet.h>

#include "net/mac.h"

namespace warren {
namespace {

uint32_t Mask(int prefix_len) { return prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len); }

}  // namespace

Result<uint32_t> ParseIpv4(std::string_view ip) {
  in_addr addr{};
  std::string text(ip);
  if (inet_pton(AF_INET, text.c_str(), &addr) != 1) {
    return InvalidArgument("\"" + text + "\" is not an IPv4 address like 10.77.0.2");
  }
  return ntohl(addr.s_addr);
}

std::string FormatIpv4(uint32_t ip) {
  in_addr addr{htonl(ip)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr, buf, sizeof(buf));
  return buf;
}

Result<IpAllocator> IpAllocator::Create(std::string_view cidr) {
  auto bad = [&](std::string why) {
    return InvalidArgument("guest subnet \"" + std::string(cidr) + "\" " + why);
  };
  size_t slash = cidr.find('/');
  if (slash == std::string_view::npos) return bad("needs a prefix length, like 10.77.0.0/24");
  std::string_view len_text = cidr.substr(slash + 1);
  if (len_text.empty() || len_text.size() > 2 ||
      len_text.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad("has an invalid prefix length");
  }
  int prefix_len = std::stoi(std::string(len_text));
  if (prefix_len < 8 || prefix_len > 30) {
    return bad("must have a prefix length between /8 and /30");
  }
  Result<uint32_t> ip = ParseIpv4(cidr.substr(0, slash));
  if (!ip.ok()) return bad("does not start with an IPv4 address");
  return IpAllocator(*ip & Mask(prefix_len), prefix_len);
}

uint32_t IpAllocator::Broadcast() const { return network_ | ~Mask(prefix_len_); }

Result<std::string> IpAllocator::Allocate(const std::set<std::string>& in_use) const {
  // network_ + 1 is the gateway; the broadcast address is never a host.
  for (uint32_t ip = network_ + 2; ip < Broadcast(); ++ip) {
    std::string candidate = FormatIpv4(ip);
    if (!in_use.contains(candidate)) return candidate;
  }
  return ResourceExhausted("guest subnet " + Cidr() + " has no free address (" +
                           std::to_string(Broadcast() - network_ - 2) +
                           " guests max): delete a VM or configure a larger subnet");
}

bool IpAllocator::IsGuestAddress(std::string_view ip) const {
  Result<uint32_t> v = ParseIpv4(ip);
  if (!v.ok() || (*v & Mask(prefix_len_)) != network_) return false;
  return *v > network_ + 1 && *v < Broadcast();
}

std::string IpAllocator::Cidr() const {
  return FormatIpv4(network_) + "/" + std::to_string(prefix_len_);
}
std::string IpAllocator::Gateway() const { return FormatIpv4(network_ + 1); }
std::string IpAllocator::GatewayCidr() const {
  return Gateway() + "/" + std::to_string(prefix_len_);
}

Result<std::string> MacForIp(std::string_view ip) {
  ASSIGN_OR_RETURN(uint32_t v, ParseIpv4(ip));
  MacAddress mac{0x52,
                 0x54,
                 0x00,
                 static_cast<uint8_t>(v >> 16),
                 static_cast<uint8_t>(v >> 8),
                 static_cast<uint8_t>(v)};
  return FormatMac(mac);
}

}  // namespace warren

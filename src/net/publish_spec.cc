#include "net/publish_spec.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace warren {
namespace {

constexpr std::string_view kForm = "[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp], e.g. 8080:80";

Status Bad(std::string_view text, const std::string& what) {
  return InvalidArgument("publish \"" + std::string(text) + "\": " + what + "; expected " +
                         std::string(kForm));
}

Result<uint16_t> ParsePort(std::string_view text, std::string_view part, const char* which) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
  if (part.empty() || ec != std::errc() || end != part.data() + part.size() || value == 0 ||
      value > 65535) {
    return Bad(text, std::string(which) + " \"" + std::string(part) +
                         "\" is not a port number from 1 to 65535");
  }
  return static_cast<uint16_t>(value);
}

bool IsWildcard(const std::string& ip) { return ip == "0.0.0.0" || ip == "::"; }

}  // namespace

Result<PublishSpec> PublishSpec::Parse(std::string_view text) {
  PublishSpec spec;
  std::string_view rest = text;
  if (const size_t slash = rest.rfind('/'); slash != std::string_view::npos) {
    const std::string_view proto = rest.substr(slash + 1);
    if (proto == "tcp") {
      spec.proto = Proto::kTcp;
    } else if (proto == "udp") {
      spec.proto = Proto::kUdp;
    } else {
      return Bad(text, "protocol \"" + std::string(proto) + "\" is neither tcp nor udp");
    }
    rest = rest.substr(0, slash);
  }
  if (!rest.empty() && rest.front() == '[') {  // [v6]:host:guest
    const size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return Bad(text, "a bracketed IPv6 address must be followed by \":HOST_PORT\"");
    }
    spec.host_ip = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 2);
  } else {
    const size_t colons = std::count(rest.begin(), rest.end(), ':');
    if (colons == 2) {
      const size_t first = rest.find(':');
      spec.host_ip = std::string(rest.substr(0, first));
      rest = rest.substr(first + 1);
    } else if (colons != 1) {
      return Bad(text, colons == 0 ? "a host port and a guest port are needed"
                                   : "too many \":\" (write an IPv6 address as [ADDR])");
    }
  }
  const size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return Bad(text, "the guest port is missing");
  ASSIGN_OR_RETURN(spec.host_port, ParsePort(text, rest.substr(0, colon), "host port"));
  ASSIGN_OR_RETURN(spec.guest_port, ParsePort(text, rest.substr(colon + 1), "guest port"));
  socklen_t len = 0;
  if (Result<sockaddr_storage> addr = ListenAddress(spec, &len); !addr.ok()) {
    return Bad(text, "host address \"" + spec.host_ip +
                         "\" is not an IP address (use 127.0.0.1, 0.0.0.0 or one of the host's)");
  }
  return spec;
}

std::string PublishSpec::ToString() const {
  const bool v6 = host_ip.find(':') != std::string::npos;
  return (v6 ? "[" + host_ip + "]" : host_ip) + ":" + std::to_string(host_port) + ":" +
         std::to_string(guest_port) + "/" + ProtoName();
}

bool PublishSpec::ConflictsWith(const PublishSpec& other) const {
  if (proto != other.proto || host_port != other.host_port) return false;
  return host_ip == other.host_ip || IsWildcard(host_ip) || IsWildcard(other.host_ip);
}

Result<sockaddr_storage> ListenAddress(const PublishSpec& spec, socklen_t* len) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, spec.host_ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(spec.host_port);
    *len = sizeof(sockaddr_in);
    return storage;
  }
  if (::inet_pton(AF_INET6, spec.host_ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(spec.host_port);
    *len = sizeof(sockaddr_in6);
    return storage;
  }
  return InvalidArgument("\"" + spec.host_ip + "\" is not an IP address");
}

}  // namespace warren

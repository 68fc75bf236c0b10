#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace warren {

// One published port: `[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]`, the syntax
// of `docker run -p` and `vm create --publish`. HOST_IP defaults to 127.0.0.1:
// a guest is reachable from other machines only when an address is given
// explicitly. An IPv6 HOST_IP is written in brackets: `[::1]:8080:80`.
// A plain value type.
struct PublishSpec {
  enum class Proto { kTcp, kUdp };

  std::string host_ip = "127.0.0.1";
  uint16_t host_port = 0;
  uint16_t guest_port = 0;
  Proto proto = Proto::kTcp;

  // InvalidArgument naming the bad part and showing the expected form.
  static Result<PublishSpec> Parse(std::string_view text);
  // The canonical form, always with host IP and protocol ("127.0.0.1:8080:80/tcp"),
  // which Parse reads back to an equal spec.
  std::string ToString() const;
  const char* ProtoName() const { return proto == Proto::kTcp ? "tcp" : "udp"; }

  // Whether two listeners would collide: same protocol and host port, and the
  // same host address or either one a wildcard (0.0.0.0 / ::).
  bool ConflictsWith(const PublishSpec& other) const;

  bool operator==(const PublishSpec&) const = default;
};

// host_ip:host_port as a socket address (AF_INET or AF_INET6). InvalidArgument
// if host_ip is not a literal address.
Result<sockaddr_storage> ListenAddress(const PublishSpec& spec, socklen_t* len);

}  // namespace warren

#include "dns/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>

namespace warren {
namespace {

Status Bind(int fd, const std::string& ipv4, uint16_t port, int type) {
  // TCP only: a restart must not wait out TIME_WAIT. Never for UDP, where
  // Linux would let a second daemon share (and split) the port.
  int one = 1;
  if (type == SOCK_STREAM) (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, ipv4.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgument("\"" + ipv4 + "\" is not an IPv4 address");
  }
  const std::string where = ipv4 + ":" + std::to_string(port);
  const char* proto = type == SOCK_DGRAM ? "UDP" : "TCP";
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (err == EADDRINUSE) {
      return Unavailable(std::string("DNS ") + proto + " " + where +
                         " is already in use by another program; choose another address or "
                         "port (config dns.host_listen) or stop that program");
    }
    return ErrnoError(std::string("bind DNS ") + proto + " " + where, err);
  }
  if (type == SOCK_STREAM && ::listen(fd, 64) != 0) {
    return ErrnoError("listen on DNS TCP " + where, errno);
  }
  return Status::Ok();
}

}  // namespace

Result<DnsListenSockets> BindDnsSockets(const std::string& ipv4, uint16_t port,
                                        const DnsSocketMaker& make) {
  // Port 0: the kernel picks a free UDP port, and TCP must get the same one,
  // which another program may hold; then pick again (a few times).
  constexpr int kAnyPortTries = 16;
  for (int attempt = 1;; ++attempt) {
    DnsListenSockets out;
    ASSIGN_OR_RETURN(out.udp, make(SOCK_DGRAM));
    RETURN_IF_ERROR(Bind(out.udp.get(), ipv4, port, SOCK_DGRAM));
    sockaddr_in bound{};
    socklen_t len = sizeof(bound);
    if (::getsockname(out.udp.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
      return ErrnoError("getsockname of the DNS UDP socket", errno);
    }
    out.port = ntohs(bound.sin_port);
    ASSIGN_OR_RETURN(out.tcp, make(SOCK_STREAM));
    Status tcp = Bind(out.tcp.get(), ipv4, out.port, SOCK_STREAM);
    if (tcp.ok()) return out;
    if (port != 0 || attempt == kAnyPortTries) return tcp;
  }
}

std::vector<std::string> ParseResolvConf(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    constexpr std::string_view kKey = "nameserver";
    if (line.substr(0, kKey.size()) != kKey) continue;
    line.remove_prefix(kKey.size());
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string_view::npos || b == 0) continue;
    line.remove_prefix(b);
    std::string ip(line.substr(0, line.find_first_of(" \t\r#;")));
    in_addr probe{};
    if (::inet_pton(AF_INET, ip.c_str(), &probe) == 1) out.push_back(ip + ":53");
  }
  return out;
}

Result<std::pair<std::string, uint16_t>> ParseIpv4HostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  auto bad = [&] {
    return InvalidArgument("\"" + std::string(text) +
                           "\" is not IPV4:PORT (for example 127.0.0.1:5354)");
  };
  if (colon == std::string_view::npos) return bad();
  std::string host(text.substr(0, colon));
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  in_addr probe{};
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      ::inet_pton(AF_INET, host.c_str(), &probe) != 1) {
    return bad();
  }
  return std::make_pair(std::move(host), static_cast<uint16_t>(port));
}

}  // namespace warren

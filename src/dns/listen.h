#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "sys/unique_fd.h"

namespace warren {

// Makes an unbound socket of `type` (SOCK_DGRAM / SOCK_STREAM, AF_INET): plain
// socket(2) for the host namespace, OpenSocketIn for the VM namespace.
using DnsSocketMaker = std::function<Result<UniqueFd>(int type)>;

// A DNS listener's pair: UDP and TCP bound to the same address and port (TCP
// listening), ready for DnsServer::Start.
struct DnsListenSockets {
  UniqueFd udp, tcp;
  uint16_t port = 0;  // the bound port (the kernel's choice when 0 was asked)
};

// Binds both. Port 0 takes an ephemeral port for UDP and the same one for TCP.
// Errors name the address and the fix (e.g. "127.0.0.1:53 is in use").
Result<DnsListenSockets> BindDnsSockets(const std::string& ipv4, uint16_t port,
                                        const DnsSocketMaker& make);

// The IPv4 `nameserver` lines of a resolv.conf, as "IP:53" (the upstreams the
// `host` network mode forwards to). IPv6 and malformed lines are skipped.
std::vector<std::string> ParseResolvConf(std::string_view text);

// "127.0.0.1:5354" → {"127.0.0.1", 5354}. InvalidArgument otherwise.
Result<std::pair<std::string, uint16_t>> ParseIpv4HostPort(std::string_view text);

}  // namespace warren

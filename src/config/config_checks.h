#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

// Value checks for config strings. Each returns "" when `v` is acceptable, else
// the tail of an error message ("is not a valid ...; use ...").
namespace warren::config_checks {

std::string Ipv4Cidr(std::string_view v);    // a.b.c.d/p, prefix 16..29, no host bits
std::string IfName(std::string_view v);      // Linux interface name, 1..15 chars
std::string NetnsName(std::string_view v);   // ip netns name
std::string DnsName(std::string_view v);     // e.g. warren.internal
std::string HostPort(std::string_view v);    // IPv4:port, port 0..65535
std::string Upstreams(std::string_view v);   // "IPv4[:port] ..." (may be empty)
std::string GroupName(std::string_view v);   // "" or a POSIX group name
std::string UserName(std::string_view v);    // "" or a POSIX user name
std::string SimpleName(std::string_view v);  // image / suite names: [A-Za-z0-9._-]+
std::string MirrorUrl(std::string_view v);   // "" or http(s):// URL
std::string NonEmpty(std::string_view v);
std::string ByteSize(std::string_view v);        // "1073741824", "512MiB", "20GiB", "1.5GiB"
std::string ByteSizeOrAuto(std::string_view v);  // ByteSize or "auto"

// Bytes of a ByteSize string ("20GiB" → 21474836480; units K/KiB, M/MiB,
// G/GiB, T/TiB are powers of 1024). InvalidArgument otherwise.
Result<uint64_t> ParseByteSize(std::string_view v);

}  // namespace warren::config_checks

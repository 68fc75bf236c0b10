#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "dns/records.h"

namespace warren {

// The zone warren is authoritative for. Plain data; copy freely.
struct Zone {
  std::string domain = "warren.internal";  // no trailing dot; VMs are NAME.<domain>
  std::string ns_ipv4;                     // address of ns.<domain>; "" = no A for it
  uint32_t ttl = 5;  // answer TTL and negative-cache TTL: short so deletes show at once
};

enum class Transport { kUdp, kTcp };

// Largest UDP payload we advertise (the DNS flag day value: no IP fragmentation).
inline constexpr uint16_t kDefaultMaxUdp = 1232;

// Builds the response to one query, as wire bytes. A pure function of its inputs plus the
// records' current state: no I/O, no locks held beyond DnsRecords' own leaf lock.
//
//   A for NAME.<domain>             → the VM's address (AA)
//   other types for an existing name → NOERROR, no answer, SOA in authority (NODATA)
//   unknown NAME.<domain> or deeper  → NXDOMAIN + SOA
//   <domain> SOA / NS, ns.<domain> A → the zone's own records
//   d.c.b.a.in-addr.arpa PTR of a VM → NAME.<domain>
//   anything else                    → REFUSED (DnsServer forwards it instead when it
//                                      has upstreams: the `host` network mode)
//   opcode other than QUERY          → NOTIMP;  question count != 1 → FORMERR
//   EDNS0 version > 0                → BADVERS
// Names match case-insensitively; the question is echoed byte for byte. An EDNS0 OPT in
// the query is answered with an OPT advertising `max_udp`. Over UDP, a response larger
// than the client's limit (its EDNS0 size, 512 without EDNS0, and never above `max_udp`)
// is sent with TC set and empty sections, so the client retries over TCP.
//
// Errors (InvalidArgument) mean "drop it, send nothing": shorter than a header, a
// response (QR set), or not parseable as DNS.
Result<std::string> Answer(std::string_view query_wire, const Zone& zone, const DnsRecords& records,
                           Transport transport, uint16_t max_udp);

// The reply to a UDP query the server will not answer in full (over its rate limit): the
// question echoed, TC set, no records, so a real resolver retries over TCP. The same
// InvalidArgument as Answer() for what must be dropped.
Result<std::string> TruncatedReply(std::string_view query_wire, uint16_t max_udp);

// True when the query parses and names something Answer() would refuse as outside the
// zone (neither <domain> nor a VM's reverse name): what DnsServer forwards upstream.
bool IsOutsideZone(std::string_view query_wire, const Zone& zone, const DnsRecords& records);

}  // namespace warren

#include "dns/probe.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace warren {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

}  // namespace

Result<std::string> ProbeDnsA(UniqueFd sock, const std::string& ipv4, uint16_t port,
                              const std::string& name, std::chrono::milliseconds timeout) {
  const std::string where = ipv4 + ":" + std::to_string(port);
  ldns_pkt* raw_query = nullptr;
  if (ldns_pkt_query_new_frm_str(&raw_query, (name + ".").c_str(), LDNS_RR_TYPE_A,
                                 LDNS_RR_CLASS_IN, LDNS_RD) != LDNS_STATUS_OK) {
    return InvalidArgument("\"" + name + "\" is not a DNS name");
  }
  PktPtr query(raw_query);
  ldns_pkt_set_id(query.get(), 0x5157);
  uint8_t* wire = nullptr;
  size_t wire_len = 0;
  if (ldns_pkt2wire(&wire, query.get(), &wire_len) != LDNS_STATUS_OK) {
    return Internal("cannot encode a DNS query for " + name);
  }
  std::unique_ptr<uint8_t, decltype(&std::free)> wire_owner(wire, &std::free);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, ipv4.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgument("\"" + ipv4 + "\" is not an IPv4 address");
  }
  if (::sendto(sock.get(), wire, wire_len, 0, reinterpret_cast<sockaddr*>(&addr),
               sizeof(addr)) < 0) {
    return ErrnoError("send a DNS query to " + where, errno);
  }
  pollfd pfd{sock.get(), POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) {
    return DeadlineExceeded("no DNS answer from " + where + " within " +
                            std::to_string(timeout.count()) + " ms");
  }
  uint8_t buf[4096];
  ssize_t n = ::recv(sock.get(), buf, sizeof(buf), 0);
  if (n < 0) return Unavailable("DNS " + where + ": " + std::strerror(errno));
  ldns_pkt* raw_answer = nullptr;
  if (ldns_wire2pkt(&raw_answer, buf, static_cast<size_t>(n)) != LDNS_STATUS_OK) {
    return Unavailable("DNS " + where + " sent a malformed answer");
  }
  PktPtr answer(raw_answer);
  if (ldns_pkt_get_rcode(answer.get()) != LDNS_RCODE_NOERROR) {
    return NotFound("DNS " + where + " answered " + name + " with rcode " +
                    std::to_string(ldns_pkt_get_rcode(answer.get())));
  }
  ldns_rr_list* rrs = ldns_pkt_rr_list_by_type(answer.get(), LDNS_RR_TYPE_A, LDNS_SECTION_ANSWER);
  if (rrs == nullptr) return NotFound("DNS " + where + " has no A record for " + name);
  std::unique_ptr<ldns_rr_list, decltype(&ldns_rr_list_deep_free)> owner(rrs,
                                                                         &ldns_rr_list_deep_free);
  ldns_rdf* rdf = ldns_rr_rdf(ldns_rr_list_rr(rrs, 0), 0);
  char* text = ldns_rdf2str(rdf);
  std::string out = text != nullptr ? text : "";
  std::free(text);
  return out;
}

}  // namespace warren

#pragma once

#include <ldns/ldns.h>

#include <cstdlib>
#include <memory>
#include <string>

// Query building and response parsing for the DNS tests, through ldns like the server.
namespace warren::dns_test {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

struct QueryOptions {
  uint16_t id = 0x1234;
  int edns_size = -1;  // -1: no OPT
  uint8_t edns_version = 0;
  ldns_pkt_opcode opcode = LDNS_PACKET_QUERY;
};

inline std::string ToWire(const ldns_pkt* p) {
  uint8_t* buf = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&buf, p, &size) != LDNS_STATUS_OK) return "";
  std::string out(reinterpret_cast<char*>(buf), size);
  std::free(buf);
  return out;
}

inline std::string Query(const std::string& name, ldns_rr_type type, QueryOptions o = {}) {
  Pkt q(ldns_pkt_query_new(ldns_dname_new_frm_str(name.c_str()), type, LDNS_RR_CLASS_IN, LDNS_RD));
  ldns_pkt_set_id(q.get(), o.id);
  ldns_pkt_set_opcode(q.get(), o.opcode);
  if (o.edns_size >= 0) {
    ldns_pkt_set_edns_udp_size(q.get(), static_cast<uint16_t>(o.edns_size));
    ldns_pkt_set_edns_version(q.get(), o.edns_version);
  }
  return ToWire(q.get());
}

// nullptr when the bytes do not parse.
inline Pkt Parse(const std::string& wire) {
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, reinterpret_cast<const uint8_t*>(wire.data()), wire.size()) !=
      LDNS_STATUS_OK) {
    return nullptr;
  }
  return Pkt(p);
}

inline std::string RdfText(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s ? s : "";
  std::free(s);
  return out;
}

// The first rdata of answer `i`, as text ("10.77.0.5", "web.warren.internal.").
inline std::string AnswerText(const ldns_pkt* p, size_t i = 0) {
  ldns_rr* rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
  return rr ? RdfText(ldns_rr_rdf(rr, 0)) : "";
}

inline ldns_rr_type AuthorityType(const ldns_pkt* p) {
  ldns_rr* rr = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
  return rr ? ldns_rr_get_type(rr) : static_cast<ldns_rr_type>(0);
}

}  // namespace warren::dns_test

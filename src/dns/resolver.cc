#include "dns/resolver.h"

#include <ldns/ldns.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <optional>

namespace warren {
namespace {

// Serves classic DNS without EDNS0 (RFC 1035 §4.2.1).
constexpr size_t kClassicUdpLimit = 512;
constexpr uint8_t kExtRcodeBadVers = 1;  // BADVERS (16) >> 4

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

// What the query names, once lower-cased and matched against the zone.
struct Target {
  enum Kind { kApex, kNsHost, kVm, kInZoneMissing, kReverse, kOutside } kind = kOutside;
  std::string label;  // kVm: the VM name
  uint32_t ip = 0;    // kVm: its address; kReverse: the address asked about
};

// The name in lower-case dotted form without the root dot ("web.warren.internal"). Walks
// the rdf's labels directly: ldns_rdf2str goes through printf and was most of the cost
// of an answer. A label holding a dot or a non-printable byte gets a byte that no zone or
// VM name contains, so such names can only ever be "outside".
std::string DnameText(const ldns_rdf* dname) {
  const uint8_t* p = ldns_rdf_data(dname);
  const size_t size = ldns_rdf_size(dname);
  std::string out;
  out.reserve(size);
  size_t i = 0;
  while (i < size && p[i] != 0) {
    const size_t len = p[i++];
    if (i + len > size) return "\x01";
    if (!out.empty()) out.push_back('.');
    for (size_t j = 0; j < len; ++j) {
      const char c = static_cast<char>(p[i + j]);
      const bool plain = c > ' ' && c < 127 && c != '.';
      out.push_back(plain ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                          : '\x01');
    }
    i += len;
  }
  return out;
}

// "d.c.b.a" (the labels before .in-addr.arpa) → a.b.c.d, or nullopt.
std::optional<uint32_t> ParseReverse(std::string_view labels) {
  uint32_t ip = 0;
  for (int i = 0; i < 4; ++i) {
    size_t dot = labels.find('.');
    std::string_view part = labels.substr(0, dot);
    if (part.empty() || part.size() > 3) return std::nullopt;
    uint32_t octet = 0;
    for (char c : part) {
      if (c < '0' || c > '9') return std::nullopt;
      octet = octet * 10 + static_cast<uint32_t>(c - '0');
    }
    if (octet > 255) return std::nullopt;
    ip |= octet << (8 * i);
    if ((dot == std::string_view::npos) != (i == 3)) return std::nullopt;
    if (dot != std::string_view::npos) labels.remove_prefix(dot + 1);
  }
  return ip;
}

Target Classify(const ldns_rdf* qname, const Zone& zone, const DnsRecords& records) {
  std::string name = DnameText(qname);
  const std::string domain = LowerAscii(zone.domain);
  Target t;
  if (name == domain) {
    t.kind = Target::kApex;
  } else if (name.size() > domain.size() && name.ends_with(domain) &&
             name[name.size() - domain.size() - 1] == '.') {
    std::string_view rest(name.data(), name.size() - domain.size() - 1);
    if (rest == "ns") {
      t.kind = Target::kNsHost;
    } else if (std::optional<uint32_t> ip = records.LookupA(rest);
               ip && rest.find('.') == std::string_view::npos) {
      t = {Target::kVm, std::string(rest), *ip};
    } else {
      t.kind = Target::kInZoneMissing;
    }
  } else if (constexpr std::string_view kArpa = ".in-addr.arpa"; name.ends_with(kArpa)) {
    std::optional<uint32_t> ip =
        ParseReverse(std::string_view(name).substr(0, name.size() - kArpa.size()));
    if (ip && records.LookupPtr(*ip)) t = {Target::kReverse, "", *ip};
  }
  return t;
}

ldns_rdf* Dname(const std::string& text) { return ldns_dname_new_frm_str(text.c_str()); }

ldns_rr* NewRr(ldns_rdf* owner, ldns_rr_type type, uint32_t ttl) {
  ldns_rr* rr = ldns_rr_new();
  ldns_rr_set_owner(rr, owner);
  ldns_rr_set_type(rr, type);
  ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr, ttl);
  return rr;
}

ldns_rr* ARecord(const ldns_rdf* owner, uint32_t ip, uint32_t ttl) {
  ldns_rr* rr = NewRr(ldns_rdf_clone(owner), LDNS_RR_TYPE_A, ttl);
  const uint8_t bytes[4] = {static_cast<uint8_t>(ip >> 24), static_cast<uint8_t>(ip >> 16),
                            static_cast<uint8_t>(ip >> 8), static_cast<uint8_t>(ip)};
  ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, sizeof(bytes), bytes));
  return rr;
}

ldns_rr* SoaRecord(const Zone& zone, uint32_t serial) {
  ldns_rr* rr = NewRr(Dname(zone.domain + "."), LDNS_RR_TYPE_SOA, zone.ttl);
  ldns_rr_push_rdf(rr, Dname("ns." + zone.domain + "."));
  ldns_rr_push_rdf(rr, Dname("hostmaster." + zone.domain + "."));
  ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, serial));
  ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 3600));      // refresh
  ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 600));       // retry
  ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 86400));     // expire
  ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, zone.ttl));  // negative TTL
  return rr;
}

ldns_rr* NsRecord(const Zone& zone) {
  ldns_rr* rr = NewRr(Dname(zone.domain + "."), LDNS_RR_TYPE_NS, zone.ttl);
  ldns_rr_push_rdf(rr, Dname("ns." + zone.domain + "."));
  return rr;
}

void AddNoData(ldns_pkt* resp, const Zone& zone, const DnsRecords& records) {
  ldns_pkt_push_rr(resp, LDNS_SECTION_AUTHORITY, SoaRecord(zone, records.serial()));
}

// Fills the answer (or the negative answer) for one in-class question.
void Resolve(ldns_pkt* resp, const ldns_rr* question, const Zone& zone, const DnsRecords& records) {
  const ldns_rdf* qname = ldns_rr_owner(question);
  const ldns_rr_type qtype = ldns_rr_get_type(question);
  const bool any = qtype == LDNS_RR_TYPE_ANY;
  Target t = Classify(qname, zone, records);
  auto answer = [&](ldns_rr* rr) { ldns_pkt_push_rr(resp, LDNS_SECTION_ANSWER, rr); };
  ldns_pkt_set_aa(resp, t.kind != Target::kOutside);
  switch (t.kind) {
    case Target::kApex:
      if (qtype == LDNS_RR_TYPE_SOA || any) answer(SoaRecord(zone, records.serial()));
      if (qtype == LDNS_RR_TYPE_NS || any) answer(NsRecord(zone));
      break;
    case Target::kNsHost:
      if ((qtype == LDNS_RR_TYPE_A || any) && !zone.ns_ipv4.empty()) {
        if (Result<uint32_t> ip = ParseIpv4(zone.ns_ipv4); ip.ok())
          answer(ARecord(qname, *ip, zone.ttl));
      }
      break;
    case Target::kVm:
      if (qtype == LDNS_RR_TYPE_A || any) answer(ARecord(qname, t.ip, zone.ttl));
      break;
    case Target::kReverse:
      if (qtype == LDNS_RR_TYPE_PTR || any) {
        // Looked up again: the VM may have gone since Classify(); then this is NODATA.
        if (std::optional<std::string> name = records.LookupPtr(t.ip)) {
          ldns_rr* rr = NewRr(ldns_rdf_clone(qname), LDNS_RR_TYPE_PTR, zone.ttl);
          ldns_rr_push_rdf(rr, Dname(*name + "." + zone.domain + "."));
          answer(rr);
        }
      }
      break;
    case Target::kInZoneMissing:
      ldns_pkt_set_rcode(resp, LDNS_RCODE_NXDOMAIN);
      AddNoData(resp, zone, records);
      return;
    case Target::kOutside:
      ldns_pkt_set_rcode(resp, LDNS_RCODE_REFUSED);
      return;
  }
  if (ldns_pkt_ancount(resp) == 0 && t.kind != Target::kReverse) AddNoData(resp, zone, records);
}

// Empties answer, authority and additional (keeping the question and EDNS0).
void Truncate(ldns_pkt* resp) {
  for (ldns_pkt_section s :
       {LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY, LDNS_SECTION_ADDITIONAL}) {
    ldns_rr_list* empty = ldns_rr_list_new();
    ldns_rr_list* old = nullptr;
    switch (s) {
      case LDNS_SECTION_ANSWER:
        old = ldns_pkt_answer(resp);
        ldns_pkt_set_answer(resp, empty);
        ldns_pkt_set_ancount(resp, 0);
        break;
      case LDNS_SECTION_AUTHORITY:
        old = ldns_pkt_authority(resp);
        ldns_pkt_set_authority(resp, empty);
        ldns_pkt_set_nscount(resp, 0);
        break;
      default:
        old = ldns_pkt_additional(resp);
        ldns_pkt_set_additional(resp, empty);
        ldns_pkt_set_arcount(resp, 0);
        break;
    }
    ldns_rr_list_deep_free(old);
  }
  ldns_pkt_set_tc(resp, true);
}

Result<std::string> ToWire(const ldns_pkt* resp) {
  // ldns_pkt2wire starts from a 64 KiB buffer; ours grow from a typical response's size,
  // which took a third off the cost of an answer.
  std::unique_ptr<ldns_buffer, decltype(&ldns_buffer_free)> buf(ldns_buffer_new(512),
                                                                &ldns_buffer_free);
  if (!buf || ldns_pkt2buffer_wire(buf.get(), resp) != LDNS_STATUS_OK) {
    return Internal("dns: cannot serialize response");
  }
  return std::string(reinterpret_cast<const char*>(ldns_buffer_begin(buf.get())),
                     ldns_buffer_position(buf.get()));
}

Result<PktPtr> ParseQuery(std::string_view wire) {
  if (wire.size() < LDNS_HEADER_SIZE) return InvalidArgument("dns: packet shorter than a header");
  const auto* bytes = reinterpret_cast<const uint8_t*>(wire.data());
  if (LDNS_QR_WIRE(bytes)) return InvalidArgument("dns: a response, not a query");
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, bytes, wire.size()) != LDNS_STATUS_OK) {
    if (raw != nullptr) ldns_pkt_free(raw);
    return InvalidArgument("dns: malformed packet");
  }
  return PktPtr(raw);
}

// The response's header fields taken from the query (id, opcode, RD, CD) and its OPT.
PktPtr NewResponse(const ldns_pkt* query, uint16_t max_udp) {
  PktPtr resp(ldns_pkt_new());
  ldns_pkt_set_id(resp.get(), ldns_pkt_id(query));
  ldns_pkt_set_qr(resp.get(), true);
  ldns_pkt_set_opcode(resp.get(), ldns_pkt_get_opcode(query));
  ldns_pkt_set_rd(resp.get(), ldns_pkt_rd(query));
  ldns_pkt_set_cd(resp.get(), ldns_pkt_cd(query));
  if (ldns_pkt_edns(query)) ldns_pkt_set_edns_udp_size(resp.get(), max_udp);
  return resp;
}

}  // namespace

Result<std::string> Answer(std::string_view query_wire, const Zone& zone, const DnsRecords& records,
                           Transport transport, uint16_t max_udp) {
  ASSIGN_OR_RETURN(PktPtr query, ParseQuery(query_wire));
  PktPtr resp = NewResponse(query.get(), max_udp);
  const bool edns = ldns_pkt_edns(query.get());

  const ldns_rr_list* questions = ldns_pkt_question(query.get());
  if (ldns_pkt_get_opcode(query.get()) != LDNS_PACKET_QUERY) {
    ldns_pkt_set_rcode(resp.get(), LDNS_RCODE_NOTIMPL);
  } else if (ldns_pkt_qdcount(query.get()) != 1 || ldns_rr_list_rr_count(questions) != 1) {
    ldns_pkt_set_rcode(resp.get(), LDNS_RCODE_FORMERR);
  } else {
    const ldns_rr* question = ldns_rr_list_rr(questions, 0);
    ldns_pkt_push_rr(resp.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
    if (edns && ldns_pkt_edns_version(query.get()) > 0) {
      ldns_pkt_set_edns_extended_rcode(resp.get(), kExtRcodeBadVers);
    } else if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN &&
               ldns_rr_get_class(question) != LDNS_RR_CLASS_ANY) {
      ldns_pkt_set_rcode(resp.get(), LDNS_RCODE_REFUSED);
    } else {
      Resolve(resp.get(), question, zone, records);
    }
  }

  ASSIGN_OR_RETURN(std::string wire, ToWire(resp.get()));
  if (transport == Transport::kUdp) {
    size_t limit = edns ? std::max<size_t>(kClassicUdpLimit, ldns_pkt_edns_udp_size(query.get()))
                        : kClassicUdpLimit;
    limit = std::min<size_t>(limit, max_udp);
    if (wire.size() > limit) {
      Truncate(resp.get());
      ASSIGN_OR_RETURN(wire, ToWire(resp.get()));
    }
  }
  return wire;
}

Result<std::string> TruncatedReply(std::string_view query_wire, uint16_t max_udp) {
  ASSIGN_OR_RETURN(PktPtr query, ParseQuery(query_wire));
  PktPtr resp = NewResponse(query.get(), max_udp);
  const ldns_rr_list* questions = ldns_pkt_question(query.get());
  if (ldns_rr_list_rr_count(questions) == 1) {
    ldns_pkt_push_rr(resp.get(), LDNS_SECTION_QUESTION,
                     ldns_rr_clone(ldns_rr_list_rr(questions, 0)));
  }
  ldns_pkt_set_tc(resp.get(), true);
  return ToWire(resp.get());
}

bool IsOutsideZone(std::string_view query_wire, const Zone& zone, const DnsRecords& records) {
  Result<PktPtr> query = ParseQuery(query_wire);
  if (!query.ok() || ldns_pkt_qdcount(query->get()) != 1) return false;
  const ldns_rr_list* questions = ldns_pkt_question(query->get());
  if (ldns_rr_list_rr_count(questions) != 1) return false;
  return Classify(ldns_rr_owner(ldns_rr_list_rr(questions, 0)), zone, records).kind ==
         Target::kOutside;
}

}  // namespace warren

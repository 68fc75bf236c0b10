#include "dns/resolver.h"

#include <gtest/gtest.h>

#include "dns/dns_test_util.h"

namespace warren {
namespace {

using dns_test::AnswerText;
using dns_test::AuthorityType;
using dns_test::Parse;
using dns_test::Query;
using dns_test::QueryOptions;

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(records_.Set("web", "10.77.0.5").ok());
    zone_.ns_ipv4 = "10.77.0.1";
  }

  dns_test::Pkt Ask(const std::string& wire, Transport t = Transport::kUdp,
                    uint16_t max_udp = kDefaultMaxUdp) {
    Result<std::string> reply = Answer(wire, zone_, records_, t, max_udp);
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    if (!reply.ok()) return nullptr;
    dns_test::Pkt p = Parse(*reply);
    EXPECT_NE(p, nullptr);
    return p;
  }

  Zone zone_;
  DnsRecords records_;
};

TEST_F(ResolverTest, AForVm) {
  auto p = Ask(Query("web.warren.internal.", LDNS_RR_TYPE_A));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_id(p.get()), 0x1234);
  EXPECT_TRUE(ldns_pkt_qr(p.get()));
  EXPECT_TRUE(ldns_pkt_aa(p.get()));
  EXPECT_TRUE(ldns_pkt_rd(p.get()));
  EXPECT_FALSE(ldns_pkt_tc(p.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  ASSERT_EQ(ldns_pkt_ancount(p.get()), 1);
  EXPECT_EQ(AnswerText(p.get()), "10.77.0.5");
  EXPECT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0)), zone_.ttl);
  EXPECT_EQ(ldns_pkt_qdcount(p.get()), 1);
}

TEST_F(ResolverTest, AaaaForExistingNameIsNoData) {
  auto p = Ask(Query("web.warren.internal.", LDNS_RR_TYPE_AAAA));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
  EXPECT_EQ(AuthorityType(p.get()), LDNS_RR_TYPE_SOA);
  EXPECT_TRUE(ldns_pkt_aa(p.get()));
}

TEST_F(ResolverTest, UnknownNameIsNxdomainWithSoa) {
  for (const char* name : {"db.warren.internal.", "x.web.warren.internal."}) {
    auto p = Ask(Query(name, LDNS_RR_TYPE_A));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NXDOMAIN) << name;
    EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
    ASSERT_EQ(AuthorityType(p.get()), LDNS_RR_TYPE_SOA);
    ldns_rr* soa = ldns_rr_list_rr(ldns_pkt_authority(p.get()), 0);
    EXPECT_EQ(dns_test::RdfText(ldns_rr_owner(soa)), "warren.internal.");
    EXPECT_EQ(dns_test::RdfText(ldns_rr_rdf(soa, 0)), "ns.warren.internal.");
    EXPECT_EQ(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), records_.serial());
  }
}

TEST_F(ResolverTest, RemovedNameIsNxdomainAtOnce) {
  records_.Remove("web");
  auto p = Ask(Query("web.warren.internal.", LDNS_RR_TYPE_A));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NXDOMAIN);
}

TEST_F(ResolverTest, ZoneApexAndNsHost) {
  auto soa = Ask(Query("warren.internal.", LDNS_RR_TYPE_SOA));
  ASSERT_NE(soa, nullptr);
  ASSERT_EQ(ldns_pkt_ancount(soa.get()), 1);
  EXPECT_EQ(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(soa.get()), 0)), LDNS_RR_TYPE_SOA);

  auto ns = Ask(Query("warren.internal.", LDNS_RR_TYPE_NS));
  ASSERT_NE(ns, nullptr);
  EXPECT_EQ(AnswerText(ns.get()), "ns.warren.internal.");

  auto host = Ask(Query("ns.warren.internal.", LDNS_RR_TYPE_A));
  ASSERT_NE(host, nullptr);
  EXPECT_EQ(AnswerText(host.get()), "10.77.0.1");

  auto apex_a = Ask(Query("warren.internal.", LDNS_RR_TYPE_A));
  ASSERT_NE(apex_a, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(apex_a.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(apex_a.get()), 0);
  EXPECT_EQ(AuthorityType(apex_a.get()), LDNS_RR_TYPE_SOA);
}

TEST_F(ResolverTest, PtrForVmAddress) {
  auto p = Ask(Query("5.0.77.10.in-addr.arpa.", LDNS_RR_TYPE_PTR));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(AnswerText(p.get()), "web.warren.internal.");

  auto unknown = Ask(Query("6.0.77.10.in-addr.arpa.", LDNS_RR_TYPE_PTR));
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(unknown.get()), LDNS_RCODE_REFUSED);
}

TEST_F(ResolverTest, OutsideZoneIsRefused) {
  std::string q = Query("example.com.", LDNS_RR_TYPE_A);
  auto p = Ask(q);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_REFUSED);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
  EXPECT_FALSE(ldns_pkt_aa(p.get()));
  EXPECT_TRUE(IsOutsideZone(q, zone_, records_));
  EXPECT_FALSE(IsOutsideZone(Query("db.warren.internal.", LDNS_RR_TYPE_A), zone_, records_));
  // A suffix that is not a label boundary is outside too.
  auto p2 = Ask(Query("notwarren.internal.", LDNS_RR_TYPE_A));
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(p2.get()), LDNS_RCODE_REFUSED);
}

TEST_F(ResolverTest, CaseInsensitiveAndQuestionEchoedExactly) {
  std::string q = Query("WeB.WaRRen.InterNAL.", LDNS_RR_TYPE_A);
  Result<std::string> reply = Answer(q, zone_, records_, Transport::kUdp, kDefaultMaxUdp);
  ASSERT_TRUE(reply.ok());
  // Without EDNS0 the query is header + question, and the response starts the same way.
  ASSERT_GT(reply->size(), q.size());
  EXPECT_EQ(reply->substr(12, q.size() - 12), q.substr(12));
  auto p = Parse(*reply);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(AnswerText(p.get()), "10.77.0.5");
}

TEST_F(ResolverTest, Edns0EchoedWithOurSize) {
  auto with = Ask(Query("web.warren.internal.", LDNS_RR_TYPE_A, {.edns_size = 4096}));
  ASSERT_NE(with, nullptr);
  EXPECT_TRUE(ldns_pkt_edns(with.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(with.get()), kDefaultMaxUdp);

  auto without = Ask(Query("web.warren.internal.", LDNS_RR_TYPE_A));
  ASSERT_NE(without, nullptr);
  EXPECT_FALSE(ldns_pkt_edns(without.get()));

  auto badvers =
      Ask(Query("web.warren.internal.", LDNS_RR_TYPE_A, {.edns_size = 4096, .edns_version = 1}));
  ASSERT_NE(badvers, nullptr);
  EXPECT_EQ(ldns_pkt_edns_extended_rcode(badvers.get()), 1);  // BADVERS
  EXPECT_EQ(ldns_pkt_ancount(badvers.get()), 0);
}

TEST_F(ResolverTest, TruncatesOverUdpOnlyAboveTheLimit) {
  std::string q = Query("web.warren.internal.", LDNS_RR_TYPE_A);
  constexpr uint16_t kTiny = 40;  // smaller than header + question + one A
  auto udp = Ask(q, Transport::kUdp, kTiny);
  ASSERT_NE(udp, nullptr);
  EXPECT_TRUE(ldns_pkt_tc(udp.get()));
  EXPECT_EQ(ldns_pkt_ancount(udp.get()), 0);
  EXPECT_EQ(ldns_pkt_qdcount(udp.get()), 1);

  auto tcp = Ask(q, Transport::kTcp, kTiny);
  ASSERT_NE(tcp, nullptr);
  EXPECT_FALSE(ldns_pkt_tc(tcp.get()));
  EXPECT_EQ(AnswerText(tcp.get()), "10.77.0.5");

  auto fits = Ask(q, Transport::kUdp, kDefaultMaxUdp);
  ASSERT_NE(fits, nullptr);
  EXPECT_FALSE(ldns_pkt_tc(fits.get()));
}

TEST_F(ResolverTest, TruncationKeepsEdns) {
  auto p =
      Ask(Query("web.warren.internal.", LDNS_RR_TYPE_A, {.edns_size = 512}), Transport::kUdp, 50);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(ldns_pkt_tc(p.get()));
  EXPECT_TRUE(ldns_pkt_edns(p.get()));
}

TEST_F(ResolverTest, MalformedPacketsAreErrors) {
  EXPECT_FALSE(Answer("", zone_, records_, Transport::kUdp, kDefaultMaxUdp).ok());
  EXPECT_FALSE(Answer("short", zone_, records_, Transport::kUdp, kDefaultMaxUdp).ok());
  std::string q = Query("web.warren.internal.", LDNS_RR_TYPE_A);
  // Cut in the middle of the question.
  EXPECT_FALSE(Answer(q.substr(0, q.size() - 6), zone_, records_, Transport::kUdp, 512).ok());
  // A response (QR set) is never answered: that is how reflection loops start.
  std::string response = q;
  response[2] = static_cast<char>(response[2] | 0x80);
  EXPECT_FALSE(Answer(response, zone_, records_, Transport::kUdp, 512).ok());
}

TEST_F(ResolverTest, BadQuestionCountIsFormerr) {
  dns_test::Pkt empty(ldns_pkt_new());
  ldns_pkt_set_id(empty.get(), 7);
  auto p = Ask(dns_test::ToWire(empty.get()));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_FORMERR);
  EXPECT_EQ(ldns_pkt_id(p.get()), 7);

  dns_test::Pkt two(ldns_pkt_query_new(ldns_dname_new_frm_str("web.warren.internal."),
                                       LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0));
  ldns_rr* extra = ldns_rr_new();
  ldns_rr_set_owner(extra, ldns_dname_new_frm_str("db.warren.internal."));
  ldns_rr_set_question(extra, true);
  ldns_pkt_push_rr(two.get(), LDNS_SECTION_QUESTION, extra);
  auto p2 = Ask(dns_test::ToWire(two.get()));
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(p2.get()), LDNS_RCODE_FORMERR);
}

TEST_F(ResolverTest, OtherOpcodesAreNotImplemented) {
  auto p = Ask(Query("web.warren.internal.", LDNS_RR_TYPE_A, {.opcode = LDNS_PACKET_UPDATE}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOTIMPL);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
}

TEST_F(ResolverTest, CustomDomain) {
  zone_.domain = "lab.example";
  auto p = Ask(Query("web.LAB.example.", LDNS_RR_TYPE_A));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(AnswerText(p.get()), "10.77.0.5");
  auto old = Ask(Query("web.warren.internal.", LDNS_RR_TYPE_A));
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(old.get()), LDNS_RCODE_REFUSED);
}

}  // namespace
}  // namespace warren

#include "dns/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "dns/dns_test_util.h"
#include "fakes/fake_clock.h"

namespace warren {
namespace {

using dns_test::AnswerText;
using dns_test::Parse;
using dns_test::Query;

// Every socket here is on loopback with an ephemeral port.
UniqueFd Bound(int type, const char* ip = "127.0.0.1", uint16_t port = 0) {
  UniqueFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, ip, &addr.sin_addr);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(listen(fd.get(), 16), 0);
  }
  timeval tv{.tv_sec = 5, .tv_usec = 0};  // a lost reply fails the test instead of hanging
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

uint16_t PortOf(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  return addr;
}

class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(records_.Set("web", "10.77.0.5").ok()); }

  void StartServer(DnsServerOptions options = {}) {
    UniqueFd udp = Bound(SOCK_DGRAM);
    UniqueFd tcp = Bound(SOCK_STREAM);
    udp_port_ = PortOf(udp.get());
    tcp_port_ = PortOf(tcp.get());
    server_ = std::make_unique<DnsServer>(options, &records_, &clock_);
    std::vector<UniqueFd> udps, tcps;
    udps.push_back(std::move(udp));
    tcps.push_back(std::move(tcp));
    ASSERT_TRUE(server_->Start(std::move(udps), std::move(tcps)).ok());
  }

  // Sends one datagram from `client` and waits for one reply ("" on timeout).
  std::string UdpAsk(int client, const std::string& wire) {
    sockaddr_in to = Loopback(udp_port_);
    sendto(client, wire.data(), wire.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    char buf[4096];
    ssize_t n = recv(client, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  std::string UdpAsk(const std::string& wire) {
    UniqueFd client = Bound(SOCK_DGRAM);
    return UdpAsk(client.get(), wire);
  }

  UniqueFd TcpConnect() {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in to = Loopback(tcp_port_);
    EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
    return fd;
  }
  static std::string Framed(const std::string& wire) {
    std::string out(2, '\0');
    out[0] = static_cast<char>(wire.size() >> 8);
    out[1] = static_cast<char>(wire.size() & 0xff);
    return out + wire;
  }
  static bool ReadFull(int fd, char* buf, size_t n) {
    while (n > 0) {
      ssize_t got = recv(fd, buf, n, 0);
      if (got <= 0) return false;
      buf += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }
  // Reads one length-prefixed message ("" on EOF or timeout).
  static std::string TcpRead(int fd) {
    unsigned char len[2];
    if (!ReadFull(fd, reinterpret_cast<char*>(len), 2)) return "";
    std::string body((len[0] << 8) | len[1], '\0');
    if (!ReadFull(fd, body.data(), body.size())) return "";
    return body;
  }
  // True when the server closed `fd` (EOF before the receive timeout).
  static bool ClosedByPeer(int fd) {
    char c;
    return recv(fd, &c, 1, 0) == 0;
  }

  FakeClock clock_;
  DnsRecords records_;
  std::unique_ptr<DnsServer> server_;
  uint16_t udp_port_ = 0, tcp_port_ = 0;
};

TEST_F(DnsServerTest, AnswersUdp) {
  StartServer();
  auto p = Parse(UdpAsk(Query("web.warren.internal.", LDNS_RR_TYPE_A)));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(AnswerText(p.get()), "10.77.0.5");
  EXPECT_GE(server_->stats().answered, 1u);
}

TEST_F(DnsServerTest, AnswersPipelinedTcp) {
  StartServer();
  UniqueFd c = TcpConnect();
  std::string two = Framed(Query("web.warren.internal.", LDNS_RR_TYPE_A, {.id = 1})) +
                    Framed(Query("db.warren.internal.", LDNS_RR_TYPE_A, {.id = 2}));
  ASSERT_EQ(send(c.get(), two.data(), two.size(), 0), static_cast<ssize_t>(two.size()));
  auto first = Parse(TcpRead(c.get()));
  auto second = Parse(TcpRead(c.get()));
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(ldns_pkt_id(first.get()), 1);
  EXPECT_EQ(AnswerText(first.get()), "10.77.0.5");
  EXPECT_EQ(ldns_pkt_id(second.get()), 2);
  EXPECT_EQ(ldns_pkt_get_rcode(second.get()), LDNS_RCODE_NXDOMAIN);
}

TEST_F(DnsServerTest, MalformedPacketIsDroppedAndServerLives) {
  StartServer();
  UniqueFd client = Bound(SOCK_DGRAM);
  sockaddr_in to = Loopback(udp_port_);
  for (const std::string& junk : {std::string("x"), std::string(40, '\xff')}) {
    sendto(client.get(), junk.data(), junk.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  }
  auto p = Parse(UdpAsk(client.get(), Query("web.warren.internal.", LDNS_RR_TYPE_A)));
  ASSERT_NE(p, nullptr);  // the reply to the good query, not to the junk
  EXPECT_EQ(AnswerText(p.get()), "10.77.0.5");
  EXPECT_EQ(server_->stats().malformed, 2u);

  // A TCP peer sending garbage is disconnected; others are unaffected.
  UniqueFd bad = TcpConnect();
  std::string junk = Framed(std::string(20, '\xff'));
  send(bad.get(), junk.data(), junk.size(), 0);
  EXPECT_TRUE(ClosedByPeer(bad.get()));
  EXPECT_NE(Parse(UdpAsk(Query("web.warren.internal.", LDNS_RR_TYPE_A))), nullptr);
}

// The daemon used to drop a source's queries beyond 200/s (burst 400): dnsperf from the host,
// where every process is 127.0.0.1, saw ~80 answers/s. By default there is no limit at all.
// The fake clock stands still, so any bucket would never refill during this test.
TEST_F(DnsServerTest, OneSourceIsAnsweredFarBeyondTheOldLimitByDefault) {
  StartServer();
  constexpr int kQueries = 1000;  // 2.5x the old burst
  UniqueFd client = Bound(SOCK_DGRAM);
  const std::string q = Query("web.warren.internal.", LDNS_RR_TYPE_A);
  for (int i = 0; i < kQueries; ++i) {
    auto p = Parse(UdpAsk(client.get(), q));
    ASSERT_NE(p, nullptr) << "UDP query " << i << " went unanswered";
    ASSERT_EQ(AnswerText(p.get()), "10.77.0.5") << "UDP query " << i;
  }
  UniqueFd c = TcpConnect();  // the same source address over TCP, pipelined
  std::string batch;
  for (int i = 0; i < kQueries; ++i) batch += Framed(q);
  ASSERT_EQ(send(c.get(), batch.data(), batch.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(batch.size()));
  for (int i = 0; i < kQueries; ++i) {
    auto p = Parse(TcpRead(c.get()));
    ASSERT_NE(p, nullptr) << "TCP query " << i << " went unanswered";
    ASSERT_EQ(AnswerText(p.get()), "10.77.0.5") << "TCP query " << i;
  }
  EXPECT_EQ(server_->stats().rate_limited, 0u);
}

// With a limit configured, a source over it still gets an answer: TC, the question echoed,
// no records, so a resolver retries over TCP, which is not limited.
TEST_F(DnsServerTest, OverTheLimitUdpIsAnsweredWithTcNotSilence) {
  DnsServerOptions options;
  options.rate_qps = 10;  // a bucket of 10; the fake clock stands still until advanced
  StartServer(options);
  UniqueFd client = Bound(SOCK_DGRAM);
  const std::string q = Query("web.warren.internal.", LDNS_RR_TYPE_A);
  int full = 0, truncated = 0;
  for (int i = 0; i < 30; ++i) {
    auto p = Parse(UdpAsk(client.get(), q));
    ASSERT_NE(p, nullptr) << "query " << i << " went unanswered";
    EXPECT_EQ(ldns_pkt_id(p.get()), 0x1234);
    ASSERT_EQ(ldns_rr_list_rr_count(ldns_pkt_question(p.get())), 1u);
    if (ldns_pkt_tc(p.get())) {
      ++truncated;
      EXPECT_EQ(ldns_pkt_ancount(p.get()), 0);
    } else {
      ++full;
      EXPECT_EQ(AnswerText(p.get()), "10.77.0.5");
    }
  }
  EXPECT_EQ(full, 10);
  EXPECT_EQ(truncated, 20);
  EXPECT_EQ(server_->stats().rate_limited, 20u);

  UniqueFd c = TcpConnect();  // the retry a resolver makes after TC
  ASSERT_EQ(send(c.get(), Framed(q).data(), Framed(q).size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(Framed(q).size()));
  auto over_tcp = Parse(TcpRead(c.get()));
  ASSERT_NE(over_tcp, nullptr);
  EXPECT_EQ(AnswerText(over_tcp.get()), "10.77.0.5");

  // Another source has its own bucket; a second later the first is refilled.
  UniqueFd other = Bound(SOCK_DGRAM, "127.0.0.2");
  auto p = Parse(UdpAsk(other.get(), q));
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(ldns_pkt_tc(p.get()));
  clock_.Advance(std::chrono::seconds(1));
  p = Parse(UdpAsk(client.get(), q));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(AnswerText(p.get()), "10.77.0.5");
}

TEST_F(DnsServerTest, RecordChangesAreLive) {
  StartServer();
  std::string q = Query("db.warren.internal.", LDNS_RR_TYPE_A);
  auto before = Parse(UdpAsk(q));
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(before.get()), LDNS_RCODE_NXDOMAIN);

  ASSERT_TRUE(records_.Set("db", "10.77.0.9").ok());
  auto added = Parse(UdpAsk(q));
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(AnswerText(added.get()), "10.77.0.9");

  records_.Remove("db");
  auto removed = Parse(UdpAsk(q));
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(removed.get()), LDNS_RCODE_NXDOMAIN);
}

TEST_F(DnsServerTest, RepeatedQuestionsKeepTheirIdAndCase) {
  StartServer();
  for (uint16_t id : {11, 12, 13}) {
    auto p = Parse(UdpAsk(Query("web.warren.internal.", LDNS_RR_TYPE_A, {.id = id})));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(ldns_pkt_id(p.get()), id);
    EXPECT_EQ(AnswerText(p.get()), "10.77.0.5");
  }
  std::string upper = Query("WEB.warren.internal.", LDNS_RR_TYPE_A, {.id = 14});
  std::string reply = UdpAsk(upper);
  ASSERT_GT(reply.size(), upper.size());
  EXPECT_EQ(reply.substr(12, upper.size() - 12), upper.substr(12));
}

TEST_F(DnsServerTest, TcpConnectionsAreBounded) {
  DnsServerOptions options;
  options.max_tcp_connections = 2;
  StartServer(options);
  std::string q = Framed(Query("web.warren.internal.", LDNS_RR_TYPE_A));
  UniqueFd a = TcpConnect(), b = TcpConnect();
  for (int fd : {a.get(), b.get()}) {  // both accepted and served
    send(fd, q.data(), q.size(), 0);
    ASSERT_NE(Parse(TcpRead(fd)), nullptr);
  }
  UniqueFd c = TcpConnect();
  EXPECT_TRUE(ClosedByPeer(c.get()));
  EXPECT_EQ(server_->stats().tcp_rejected, 1u);
}

TEST_F(DnsServerTest, OversizedAndIdleTcpAreClosed) {
  DnsServerOptions options;
  options.max_tcp_message = 512;
  options.tcp_idle_timeout = std::chrono::seconds(10);
  StartServer(options);
  UniqueFd big = TcpConnect();
  const char prefix[2] = {0x10, 0x00};  // announces 4096 bytes
  send(big.get(), prefix, 2, 0);
  EXPECT_TRUE(ClosedByPeer(big.get()));

  UniqueFd idle = TcpConnect();
  std::string q = Framed(Query("web.warren.internal.", LDNS_RR_TYPE_A));
  send(idle.get(), q.data(), q.size(), 0);
  ASSERT_NE(Parse(TcpRead(idle.get())), nullptr);  // accepted and active
  clock_.Advance(std::chrono::seconds(11));
  EXPECT_TRUE(ClosedByPeer(idle.get()));
}

// The `host` network mode: names outside the zone go to an upstream resolver
// (here another DnsServer, authoritative for example.test, on loopback) and its
// reply comes back with the client's own id, over UDP and TCP.
class DnsForwardTest : public DnsServerTest {
 protected:
  void StartWithUpstream() {
    ASSERT_TRUE(upstream_records_.Set("www", "192.0.2.7").ok());
    UniqueFd udp = Bound(SOCK_DGRAM);
    const uint16_t port = PortOf(udp.get());
    DnsServerOptions up;
    up.zone.domain = "example.test";
    upstream_ = std::make_unique<DnsServer>(up, &upstream_records_, &clock_);
    std::vector<UniqueFd> udps;
    udps.push_back(std::move(udp));
    ASSERT_TRUE(upstream_->Start(std::move(udps), {}).ok());
    DnsServerOptions options;
    options.upstreams = {"127.0.0.1:" + std::to_string(port)};
    StartServer(options);
  }
  DnsRecords upstream_records_;
  std::unique_ptr<DnsServer> upstream_;
};

TEST_F(DnsForwardTest, OutsideNamesAreForwardedOverUdpWithTheClientsId) {
  StartWithUpstream();
  auto p = Parse(UdpAsk(Query("www.example.test.", LDNS_RR_TYPE_A, {.id = 4242})));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_id(p.get()), 4242);
  EXPECT_EQ(AnswerText(p.get()), "192.0.2.7");
  EXPECT_EQ(server_->stats().forwarded, 1u);
  // The zone itself is still answered here, not forwarded.
  auto local = Parse(UdpAsk(Query("web.warren.internal.", LDNS_RR_TYPE_A)));
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(AnswerText(local.get()), "10.77.0.5");
  EXPECT_EQ(server_->stats().forwarded, 1u);
}

TEST_F(DnsForwardTest, OutsideNamesAreForwardedForTcpClientsToo) {
  StartWithUpstream();
  UniqueFd c = TcpConnect();
  std::string q = Framed(Query("WWW.Example.Test.", LDNS_RR_TYPE_A, {.id = 9}));
  ASSERT_EQ(send(c.get(), q.data(), q.size(), 0), static_cast<ssize_t>(q.size()));
  auto p = Parse(TcpRead(c.get()));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_id(p.get()), 9);
  EXPECT_EQ(AnswerText(p.get()), "192.0.2.7");
}

TEST_F(DnsForwardTest, WithoutUpstreamsOutsideNamesAreRefused) {
  StartServer();
  auto p = Parse(UdpAsk(Query("www.example.test.", LDNS_RR_TYPE_A)));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_REFUSED);
  EXPECT_EQ(server_->stats().forwarded, 0u);
}

TEST_F(DnsServerTest, ShutdownIsIdempotent) {
  StartServer();
  server_->Shutdown();
  server_->Shutdown();
  EXPECT_FALSE(server_->Start({}, {}).ok());
}

// With dnsutils installed, a stock client must agree with us over UDP and TCP.
TEST_F(DnsServerTest, DigResolves) {
  if (access("/usr/bin/dig", X_OK) != 0) GTEST_SKIP() << "dig not installed (dnsutils)";
  StartServer();
  for (const char* extra : {"", "+tcp"}) {
    uint16_t port = extra[0] ? tcp_port_ : udp_port_;
    std::string cmd = "/usr/bin/dig @127.0.0.1 -p " + std::to_string(port) +
                      " +short +tries=1 +time=5 " + extra + " WEB.warren.internal A";
    FILE* out = popen(cmd.c_str(), "r");
    ASSERT_NE(out, nullptr);
    char line[256] = {};
    std::string got = fgets(line, sizeof(line), out) ? line : "";
    pclose(out);
    EXPECT_EQ(got, "10.77.0.5\n") << cmd;
  }
}

}  // namespace
}  // namespace warren

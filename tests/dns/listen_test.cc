#include "dns/listen.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

namespace warren {
namespace {

TEST(ParseResolvConfTest, TakesIpv4NameserversOnly) {
  EXPECT_EQ(ParseResolvConf("# generated\nsearch example.org\nnameserver 10.0.0.2\n"
                            "nameserver\t192.0.2.53 # office\nnameserver ::1\n"
                            "nameserver fe80::1%eth0\nnameservers 1.1.1.1\nnameserver\n"),
            (std::vector<std::string>{"10.0.0.2:53", "192.0.2.53:53"}));
  EXPECT_TRUE(ParseResolvConf("").empty());
}

TEST(ParseIpv4HostPortTest, AcceptsIpv4AndPortOnly) {
  Result<std::pair<std::string, uint16_t>> ok = ParseIpv4HostPort("127.0.0.1:5354");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->first, "127.0.0.1");
  EXPECT_EQ(ok->second, 5354);
  for (const char* bad : {"127.0.0.1", "localhost:53", "127.0.0.1:65536", "[::1]:53", ":53",
                          "127.0.0.1:5x"}) {
    EXPECT_FALSE(ParseIpv4HostPort(bad).ok()) << bad;
  }
}

TEST(BindDnsSocketsTest, PortZeroGivesOnePortForUdpAndTcp) {
  auto plain = [](int type) -> Result<UniqueFd> {
    return UniqueFd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  };
  Result<DnsListenSockets> a = BindDnsSockets("127.0.0.1", 0, plain);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_NE(a->port, 0);
  // The same port again is in use, and the error says how to fix it.
  Result<DnsListenSockets> b = BindDnsSockets("127.0.0.1", a->port, plain);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("UDP"), std::string::npos) << b.status().ToString();
  EXPECT_NE(b.status().message().find("dns.host_listen"), std::string::npos);
}

}  // namespace
}  // namespace warren

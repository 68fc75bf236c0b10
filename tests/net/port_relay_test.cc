#include "net/port_relay.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fresh_netns.h"
#include "net/netlink.h"
#include "relay_test_util.h"

namespace warren {
namespace {

using namespace relay_test;
using namespace std::chrono_literals;

// Polls `pred` until true or 10 s pass.
template <typename P>
bool Eventually(P pred) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

PublishSpec Spec(uint16_t host_port, uint16_t guest_port,
                 PublishSpec::Proto proto = PublishSpec::Proto::kTcp) {
  PublishSpec spec;
  spec.host_port = host_port;
  spec.guest_port = guest_port;
  spec.proto = proto;
  return spec;
}

std::unique_ptr<PortRelay> StartHere(PortRelay::Options options = {}) {
  Result<NetnsHandle> here = NetnsHandle::Current();
  EXPECT_TRUE(here.ok());
  static NetnsHandle* kept = new NetnsHandle(std::move(*here));  // outlives every relay
  Result<std::unique_ptr<PortRelay>> relay = PortRelay::Start(*kept, options);
  EXPECT_TRUE(relay.ok()) << relay.status().ToString();
  return std::move(*relay);
}

TEST(PortRelayTest, TcpEchoesBothWays) {
  TcpServer guest(TcpServer::Mode::kEcho);
  auto relay = StartHere();
  const uint16_t port = FreePort();
  ASSERT_TRUE(relay->Add(Spec(port, guest.port()), "127.0.0.1").ok());
  UniqueFd c = Dial(port);
  ASSERT_TRUE(c.valid());
  for (int i = 0; i < 3; ++i) {
    const std::string msg = "hello " + std::to_string(i);
    ASSERT_TRUE(SendAll(c.get(), msg.data(), msg.size()));
    std::string back(msg.size(), '\0');
    ASSERT_TRUE(RecvAll(c.get(), back.data(), back.size()));
    EXPECT_EQ(back, msg);
  }
}

// The reply is sent only after the client's shutdown(SHUT_WR) reached the
// server: the relay must pass the EOF on and keep the other direction open.
TEST(PortRelayTest, TcpHalfCloseCarriesTheReplyAfterEof) {
  TcpServer guest(TcpServer::Mode::kReplyAtEof);
  auto relay = StartHere();
  const uint16_t port = FreePort();
  ASSERT_TRUE(relay->Add(Spec(port, guest.port()), "127.0.0.1").ok());
  UniqueFd c = Dial(port);
  ASSERT_TRUE(c.valid());
  std::string big(3 << 20, 'x');  // several pipe-fulls
  for (size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);
  std::thread writer([&] {
    ASSERT_TRUE(SendAll(c.get(), big.data(), big.size()));
    ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
  });
  const std::string back = RecvToEof(c.get());
  writer.join();
  EXPECT_EQ(back.size(), big.size());
  EXPECT_TRUE(back == big);
  EXPECT_TRUE(Eventually([&] { return relay->GetStats().tcp_connections == 0; }));
}

TEST(PortRelayTest, GuestRefusingClosesTheClient) {
  auto relay = StartHere();
  const uint16_t port = FreePort();
  const uint16_t closed = FreePort();
  ASSERT_TRUE(relay->Add(Spec(port, closed), "127.0.0.1").ok());
  UniqueFd c = Dial(port);
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(RecvToEof(c.get()), "");
  EXPECT_TRUE(Eventually([&] { return relay->GetStats().tcp_failed == 1; }));
  EXPECT_EQ(relay->GetStats().tcp_connections, 0u);
}

TEST(PortRelayTest, TakenPortIsRefusedAndRemoveFreesIt) {
  TcpServer guest(TcpServer::Mode::kEcho);
  auto relay = StartHere();
  const uint16_t port = FreePort();
  Result<PortRelay::Id> id = relay->Add(Spec(port, guest.port()), "127.0.0.1");
  ASSERT_TRUE(id.ok());
  Result<PortRelay::Id> again = relay->Add(Spec(port, guest.port()), "127.0.0.1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(again.error().message().find("already in use"), std::string::npos)
      << again.error().message();

  UniqueFd open_conn = Dial(port);  // closed by Remove too
  ASSERT_TRUE(open_conn.valid());
  ASSERT_TRUE(Eventually([&] { return relay->GetStats().tcp_connections == 1; }));
  relay->Remove(*id);
  EXPECT_EQ(relay->GetStats().listeners, 0u);
  EXPECT_EQ(relay->GetStats().tcp_connections, 0u);
  EXPECT_EQ(RecvToEof(open_conn.get()), "");
  EXPECT_FALSE(Dial(port).valid()) << "nothing listens after Remove";
  EXPECT_TRUE(relay->Add(Spec(port, guest.port()), "127.0.0.1").ok()) << "the port is free again";
}

TEST(PortRelayTest, UdpFlowsPerClientAndIdleOut) {
  UdpEchoServer guest;
  auto relay = StartHere({.udp_idle = 300ms});
  const uint16_t port = FreePort(SOCK_DGRAM);
  ASSERT_TRUE(relay->Add(Spec(port, guest.port(), PublishSpec::Proto::kUdp), "127.0.0.1").ok());
  UniqueFd a = UdpDial(port), b = UdpDial(port);
  char buf[128];
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(::send(a.get(), "from-a", 6, 0), 6);
    ASSERT_EQ(::send(b.get(), "from-b", 6, 0), 6);
    ssize_t n = ::recv(a.get(), buf, sizeof(buf), 0);
    ASSERT_GT(n, 0) << "no reply through the relay";
    EXPECT_EQ(std::string(buf, n), "echo:from-a");
    n = ::recv(b.get(), buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, n), "echo:from-b");
  }
  EXPECT_EQ(relay->GetStats().udp_flows, 2u);
  EXPECT_TRUE(Eventually([&] { return relay->GetStats().udp_flows == 0; })) << "idle flows close";
  ASSERT_EQ(::send(a.get(), "later", 5, 0), 5);  // a new flow for the same client
  const ssize_t n = ::recv(a.get(), buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), "echo:later");
}

// A thousand connections open at once through one published port: every one
// carries its bytes, and when they are closed the relay holds no fd more than
// before it saw them.
TEST(PortRelayTest, ThousandConcurrentConnectionsNoFailureNoLeak) {
  constexpr int kConns = 1000;
  TcpServer guest(TcpServer::Mode::kEcho);
  auto relay = StartHere();
  const uint16_t port = FreePort();
  ASSERT_TRUE(relay->Add(Spec(port, guest.port()), "127.0.0.1").ok());
  const int fds_before = CountOpenFds();
  {
    std::vector<UniqueFd> conns;
    for (int i = 0; i < kConns; ++i) {
      conns.push_back(Dial(port));
      ASSERT_TRUE(conns.back().valid()) << "connection " << i;
    }
    for (int i = 0; i < kConns; ++i) {
      const std::string msg = "conn " + std::to_string(i);
      ASSERT_TRUE(SendAll(conns[i].get(), msg.data(), msg.size()));
    }
    for (int i = 0; i < kConns; ++i) {
      const std::string msg = "conn " + std::to_string(i);
      std::string back(msg.size(), '\0');
      ASSERT_TRUE(RecvAll(conns[i].get(), back.data(), back.size())) << "connection " << i;
      ASSERT_EQ(back, msg);
    }
    EXPECT_EQ(relay->GetStats().tcp_connections, static_cast<size_t>(kConns));
  }
  EXPECT_TRUE(Eventually([&] { return relay->GetStats().tcp_connections == 0; }));
  EXPECT_TRUE(Eventually([&] { return CountOpenFds() == fds_before; }))
      << "fds before " << fds_before << ", after " << CountOpenFds();
  const PortRelay::Stats stats = relay->GetStats();
  EXPECT_EQ(stats.tcp_accepted, static_cast<uint64_t>(kConns));
  EXPECT_EQ(stats.tcp_failed, 0u);
}

// The point of the relay: the guest lives in another namespace, unreachable
// from the client's; the relay's loop thread makes its sockets there.
TEST(PortRelayTest, RelaysIntoAnotherNamespace) {
  IN_FRESH_NETNS([](const std::string& dir) {
    Result<NetnsHandle> vms = NetnsHandle::Create(dir, "vms");
    ASSERT_TRUE(vms.ok()) << vms.status().ToString();
    LinkChange up;
    up.up = true;
    Result<Netlink> here = Netlink::OpenHere(), there = Netlink::OpenIn(*vms);
    ASSERT_TRUE(here.ok() && there.ok());
    ASSERT_TRUE(here->SetLink("lo", up).ok());
    ASSERT_TRUE(there->SetLink("lo", up).ok());
    TcpServer guest(TcpServer::Mode::kReplyAtEof, vms->fd());
    UdpEchoServer udp_guest(vms->fd());
    EXPECT_FALSE(Dial(guest.port()).valid()) << "the guest must not be reachable directly";
    Result<std::unique_ptr<PortRelay>> relay = PortRelay::Start(*vms, {});
    ASSERT_TRUE(relay.ok()) << relay.status().ToString();
    const uint16_t port = FreePort();
    ASSERT_TRUE((*relay)->Add(Spec(port, guest.port()), "127.0.0.1").ok());
    ASSERT_TRUE(
        (*relay)->Add(Spec(port, udp_guest.port(), PublishSpec::Proto::kUdp), "127.0.0.1").ok());
    UniqueFd c = Dial(port);
    ASSERT_TRUE(c.valid());
    ASSERT_TRUE(SendAll(c.get(), "across", 6));
    ::shutdown(c.get(), SHUT_WR);
    EXPECT_EQ(RecvToEof(c.get()), "across");
    UniqueFd u = UdpDial(port);
    ASSERT_EQ(::send(u.get(), "dgram", 5, 0), 5);
    char buf[64];
    const ssize_t n = ::recv(u.get(), buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, n), "echo:dgram");
  });
}

}  // namespace
}  // namespace warren

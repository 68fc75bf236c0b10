#include "net/nat_uplink.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <set>

#include "fresh_netns.h"
#include "net/bridge.h"
#include "net/netlink.h"
#include "net/nftables.h"

namespace warren {
namespace {

LinkChange UpChange() {
  LinkChange up;
  up.up = true;
  return up;
}

sockaddr_in Addr(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

// The test's namespace plays the host; `outer` plays the network beyond it
// (192.0.2.0/24), which has no route to the guest subnet, so only masqueraded
// guest traffic can be answered.
struct Topology {
  NetnsHandle vms;
  NetnsHandle outer;
};

Topology MakeTopology(const std::string& dir) {
  Result<NetnsHandle> vms = NetnsHandle::Create(dir, "vms");
  Result<NetnsHandle> outer = NetnsHandle::Create(dir, "outer");
  EXPECT_TRUE(vms.ok() && outer.ok());
  EXPECT_TRUE(EnsureBridgeIn(*vms, {"wbr0", "10.77.0.1/24"}).ok());
  Result<Netlink> host = Netlink::OpenHere();
  EXPECT_TRUE(host.ok());
  EXPECT_TRUE(host->AddVethPair("out0", "out0", outer->fd()).ok());
  EXPECT_TRUE(host->AddAddress(host->GetLink("out0")->index, "192.0.2.1/24").ok());
  EXPECT_TRUE(host->SetLink("out0", UpChange()).ok());
  Result<Netlink> o = Netlink::OpenIn(*outer);
  EXPECT_TRUE(o.ok());
  EXPECT_TRUE(o->AddAddress(o->GetLink("out0")->index, "192.0.2.2/24").ok());
  EXPECT_TRUE(o->SetLink("out0", UpChange()).ok());
  EXPECT_TRUE(o->SetLink("lo", UpChange()).ok());
  return {std::move(*vms), std::move(*outer)};
}

// Sends one datagram from the guest subnet's gateway address inside `vms` to
// 192.0.2.2:9999 in `outer`; returns the source address `outer` saw, or an
// error if nothing arrived.
Result<std::string> SourceSeenOutside(const Topology& t) {
  ASSIGN_OR_RETURN(UniqueFd rx, OpenSocketIn(t.outer, AF_INET, SOCK_DGRAM, 0));
  sockaddr_in at = Addr("192.0.2.2", 9999);
  if (::bind(rx.get(), reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0) {
    return ErrnoError("bind 192.0.2.2:9999", errno);
  }
  ASSIGN_OR_RETURN(UniqueFd tx, OpenSocketIn(t.vms, AF_INET, SOCK_DGRAM, 0));
  sockaddr_in from = Addr("10.77.0.1", 0);
  if (::bind(tx.get(), reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
    return ErrnoError("bind 10.77.0.1", errno);
  }
  if (::sendto(tx.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 1) {
    return ErrnoError("sendto 192.0.2.2", errno);
  }
  pollfd p{rx.get(), POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return DeadlineExceeded("nothing arrived at 192.0.2.2");
  sockaddr_in src{};
  socklen_t len = sizeof(src);
  char byte;
  if (::recvfrom(rx.get(), &byte, 1, 0, reinterpret_cast<sockaddr*>(&src), &len) != 1) {
    return ErrnoError("recvfrom", errno);
  }
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &src.sin_addr, text, sizeof(text));
  return std::string(text);
}

TEST(NatUplinkTest, NamesAndLinkAddressesAreStableAndFit) {
  NatUplinkConfig a = NatUplinkFor(0x1a2b3c4d, "10.77.0.0/24");
  NatUplinkConfig b = NatUplinkFor(0x1a2b3c4d, "10.77.0.0/24");
  EXPECT_EQ(a.host_link, b.host_link);
  EXPECT_EQ(a.host_ip, b.host_ip);
  EXPECT_EQ(a.host_link, "wn-1a2b3c4d");
  EXPECT_LE(a.host_link.size(), 15u);  // IFNAMSIZ - 1
  EXPECT_EQ(a.nft_table, "warren_1a2b3c4d");
  EXPECT_NE(NatUplinkFor(0x1a2b3c4e, "10.77.0.0/24").host_ip, a.host_ip);
  std::set<std::string> thirds;
  for (uint32_t h = 0; h < 5000; ++h) {
    NatUplinkConfig c = NatUplinkFor(h * 2654435761u, "10.77.0.0/24");
    ASSERT_EQ(c.host_ip.rfind("169.254.", 0), 0u) << c.host_ip;
    ASSERT_EQ(c.host_ip.find("169.254.169."), std::string::npos) << c.host_ip;
    unsigned last = std::stoul(c.host_ip.substr(c.host_ip.rfind('.') + 1));
    ASSERT_EQ(last % 4, 1u) << c.host_ip;  // .1 and .2 of an aligned /30
  }
}

TEST(NatUplinkTest, GuestTrafficLeavesMasqueradedAndRemoveUndoesIt) {
  IN_FRESH_NETNS([](const std::string& dir) {
    Topology t = MakeTopology(dir);
    const NatUplinkConfig c = NatUplinkFor(0x1a2b3c4d, "10.77.0.0/24");
    Status st = EnsureNatUplink(t.vms, c);
    ASSERT_TRUE(st.ok()) << st.ToString();
    // Idempotent: a daemon restart runs it again over what is there.
    st = EnsureNatUplink(t.vms, c);
    ASSERT_TRUE(st.ok()) << st.ToString();
    st = CheckNatUplink(t.vms, c);
    EXPECT_TRUE(st.ok()) << st.ToString();

    Result<std::string> seen = SourceSeenOutside(t);
    ASSERT_TRUE(seen.ok()) << seen.status().ToString();
    EXPECT_EQ(*seen, "192.0.2.1") << "the guest address must not leave the host";

    // Without the masquerade table the guest address would leak: the rule is
    // what makes the difference, and Check notices it missing.
    ASSERT_TRUE(RunNft("delete table ip " + c.nft_table + "\n").ok());
    seen = SourceSeenOutside(t);
    ASSERT_TRUE(seen.ok()) << seen.status().ToString();
    EXPECT_EQ(*seen, "10.77.0.1");
    EXPECT_FALSE(CheckNatUplink(t.vms, c).ok());
    ASSERT_TRUE(EnsureNatUplink(t.vms, c).ok());  // repairs it
    EXPECT_TRUE(CheckNatUplink(t.vms, c).ok());

    st = RemoveNatUplink(c);
    ASSERT_TRUE(st.ok()) << st.ToString();
    Result<Netlink> host = Netlink::OpenHere();
    Result<Netlink> vm = Netlink::OpenIn(t.vms);
    EXPECT_EQ(host->GetLink(c.host_link).status().code(), Code::kNotFound);
    EXPECT_EQ(vm->GetLink(c.vm_link).status().code(), Code::kNotFound);
    EXPECT_EQ(RunNft("list table ip " + c.nft_table + "\n").status().code(), Code::kNotFound);
    EXPECT_FALSE(SourceSeenOutside(t).ok());  // no way out any more
    EXPECT_TRUE(RemoveNatUplink(c).ok());     // removing twice is fine
  });
}

TEST(NftablesTest, ErrorsAreOneLineNamingTheCommand) {
  IN_FRESH_NETNS([](const std::string&) {
    Result<std::string> gone = RunNft("delete table ip warren_absent\n");
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.status().code(), Code::kNotFound) << gone.status().ToString();
    EXPECT_NE(gone.status().message().find("delete table ip warren_absent"), std::string::npos)
        << gone.status().message();
    EXPECT_EQ(gone.status().message().find('\n'), std::string::npos) << gone.status().message();
    Result<std::string> bad = RunNft("table ip t { chain c { bogus } }\n");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("syntax error"), std::string::npos)
        << bad.status().message();
    EXPECT_TRUE(RunNft("add table ip t\n").ok());
    Result<std::string> listed = RunNft("list tables\n");
    ASSERT_TRUE(listed.ok());
    EXPECT_NE(listed->find("table ip t"), std::string::npos) << *listed;
  });
}

TEST(NatUplinkTest, FindsOtherTablesThatDropForwardedPackets) {
  IN_FRESH_NETNS([](const std::string&) {
    Result<std::vector<std::string>> none = ForwardDropChains("warren_1");
    ASSERT_TRUE(none.ok()) << none.status().ToString();
    EXPECT_TRUE(none->empty());
    // Ours never counts; an accepting forward chain neither; docker's does.
    ASSERT_TRUE(RunNft("table ip warren_1 { chain f { type filter hook forward priority 0; "
                       "policy drop; }; }\n"
                       "table inet open { chain f { type filter hook forward priority 0; "
                       "policy accept; }; }\n"
                       "table ip filter { chain FORWARD { type filter hook forward priority 0; "
                       "policy drop; }; }\n")
                    .ok());
    Result<std::vector<std::string>> drops = ForwardDropChains("warren_1");
    ASSERT_TRUE(drops.ok());
    EXPECT_EQ(*drops, std::vector<std::string>{"table ip filter, chain FORWARD"});
  });
}

TEST(NatUplinkTest, RefusesAForeignLinkWithItsName) {
  IN_FRESH_NETNS([](const std::string& dir) {
    Result<NetnsHandle> vms = NetnsHandle::Create(dir, "vms");
    ASSERT_TRUE(vms.ok());
    const NatUplinkConfig c = NatUplinkFor(7, "10.77.0.0/24");
    Result<Netlink> host = Netlink::OpenHere();
    ASSERT_TRUE(host->AddBridge(c.host_link).ok());
    Status st = EnsureNatUplink(*vms, c);
    EXPECT_EQ(st.code(), Code::kFailedPrecondition);
    EXPECT_NE(st.message().find(c.host_link), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find("not warren's veth"), std::string::npos) << st.ToString();
  });
}

}  // namespace
}  // namespace warren

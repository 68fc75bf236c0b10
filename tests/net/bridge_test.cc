#include "net/bridge.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>

#include "fresh_netns.h"
#include "net/ip_alloc.h"

namespace warren {
namespace {

const BridgeConfig kConfig{"wbr0", "10.77.0.1/24"};

void ExpectBridgeReady(Netlink& nl) {
  Result<LinkInfo> br = nl.GetLink("wbr0");
  ASSERT_TRUE(br.ok()) << br.status().ToString();
  EXPECT_EQ(br->kind, "bridge");
  EXPECT_TRUE(br->up);
  EXPECT_EQ(FormatMac(br->mac), *MacForIp("10.77.0.1"));
  Result<std::vector<std::string>> addrs = nl.ListAddresses(br->index);
  ASSERT_TRUE(addrs.ok());
  EXPECT_EQ(*addrs, std::vector<std::string>{"10.77.0.1/24"});
  Result<LinkInfo> lo = nl.GetLink("lo");
  ASSERT_TRUE(lo.ok());
  EXPECT_TRUE(lo->up);
}

TEST(BridgeTest, CreatesBridgeWithAddressInNamedNamespace) {
  IN_FRESH_NETNS([](const std::string& dir) {
    Result<NetnsHandle> ns = NetnsHandle::Create(dir, "vms");
    ASSERT_TRUE(ns.ok());
    Status st = EnsureBridgeIn(*ns, kConfig);
    ASSERT_TRUE(st.ok()) << st.ToString();
    Result<Netlink> nl = Netlink::OpenIn(*ns);
    ASSERT_TRUE(nl.ok());
    ExpectBridgeReady(*nl);

    // The test's own namespace (standing in for the daemon's) got nothing.
    Result<Netlink> here = Netlink::OpenHere();
    ASSERT_TRUE(here.ok());
    EXPECT_EQ(here->GetLink("wbr0").status().code(), Code::kNotFound);
    ASSERT_TRUE(NetnsHandle::Delete(dir, "vms").ok());
  });
}

TEST(BridgeTest, IsIdempotentAndRepairsAHalfMadeBridge) {
  IN_FRESH_NETNS([](const std::string&) {
    Result<Netlink> nl = Netlink::OpenHere();
    ASSERT_TRUE(nl.ok());
    ASSERT_TRUE(nl->AddBridge("wbr0").ok());  // as if a crash hit right after creation
    ASSERT_TRUE(EnsureBridge(*nl, kConfig).ok());
    Status again = EnsureBridge(*nl, kConfig);
    ASSERT_TRUE(again.ok()) << again.ToString();
    ExpectBridgeReady(*nl);
  });
}

TEST(BridgeTest, HostModeUsesTheCurrentNamespace) {
  // In `host` mode the bridge lives in the daemon's namespace; here the daemon's
  // namespace is the one this test made.
  IN_FRESH_NETNS([](const std::string&) {
    Result<NetnsHandle> cur = NetnsHandle::Current();
    ASSERT_TRUE(cur.ok());
    ASSERT_TRUE(EnsureBridgeIn(*cur, kConfig).ok());
    Result<Netlink> nl = Netlink::OpenHere();
    ASSERT_TRUE(nl.ok());
    ExpectBridgeReady(*nl);
  });
}

TEST(BridgeTest, RefusesALinkThatIsNotABridge) {
  IN_FRESH_NETNS([](const std::string&) {
    UniqueFd tun(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(tun.valid());
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "wbr0");
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    ASSERT_EQ(::ioctl(tun.get(), TUNSETIFF, &ifr), 0);
    Result<Netlink> nl = Netlink::OpenHere();
    ASSERT_TRUE(nl.ok());
    Status st = EnsureBridge(*nl, kConfig);
    EXPECT_EQ(st.code(), Code::kFailedPrecondition);
    EXPECT_NE(st.message().find("wbr0"), std::string::npos);
  });
}

TEST(BridgeTest, RejectsMalformedAddressBeforeTouchingTheKernel) {
  IN_FRESH_NETNS([](const std::string&) {
    Result<Netlink> nl = Netlink::OpenHere();
    ASSERT_TRUE(nl.ok());
    EXPECT_EQ(EnsureBridge(*nl, {"wbr0", "10.77.0.1"}).code(), Code::kInvalidArgument);
    EXPECT_EQ(nl->GetLink("wbr0").status().code(), Code::kNotFound);
  });
}

}  // namespace
}  // namespace warren

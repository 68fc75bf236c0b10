#include "net/ip_alloc.h"

#include <gtest/gtest.h>

#include "net/mac.h"
#include "net/tap_device.h"

namespace warren {
namespace {

IpAllocator Subnet(const char* cidr) {
  Result<IpAllocator> a = IpAllocator::Create(cidr);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return *a;
}

TEST(IpAllocatorTest, FirstGuestIsAfterGateway) {
  IpAllocator a = Subnet("10.77.0.0/24");
  EXPECT_EQ(a.Gateway(), "10.77.0.1");
  EXPECT_EQ(a.GatewayCidr(), "10.77.0.1/24");
  EXPECT_EQ(a.Cidr(), "10.77.0.0/24");
  Result<std::string> ip = a.Allocate({});
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(*ip, "10.77.0.2");
}

TEST(IpAllocatorTest, LowestFreeAddressFillsHoles) {
  IpAllocator a = Subnet("10.77.0.0/24");
  EXPECT_EQ(*a.Allocate({"10.77.0.2", "10.77.0.3", "10.77.0.5"}), "10.77.0.4");
  EXPECT_EQ(*a.Allocate({"10.77.0.2", "10.77.0.4"}), "10.77.0.3");
}

TEST(IpAllocatorTest, HostBitsInConfigAreIgnored) {
  IpAllocator a = Subnet("10.77.0.1/24");
  EXPECT_EQ(a.Cidr(), "10.77.0.0/24");
  EXPECT_EQ(*a.Allocate({}), "10.77.0.2");
}

TEST(IpAllocatorTest, NeverHandsOutBroadcast) {
  IpAllocator a = Subnet("10.9.9.0/30");  // .0 network, .1 gateway, .2 guest, .3 broadcast
  EXPECT_EQ(*a.Allocate({}), "10.9.9.2");
  Result<std::string> none = a.Allocate({"10.9.9.2"});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), Code::kResourceExhausted);
}

TEST(IpAllocatorTest, ExhaustionNamesSubnetAndFix) {
  IpAllocator a = Subnet("10.77.0.0/29");
  std::set<std::string> used;
  for (int i = 0; i < 5; ++i) {
    Result<std::string> ip = a.Allocate(used);
    ASSERT_TRUE(ip.ok()) << i;
    used.insert(*ip);
  }
  EXPECT_EQ(used.count("10.77.0.6"), 1u);
  Result<std::string> none = a.Allocate(used);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("10.77.0.0/29"), std::string::npos);
  EXPECT_NE(none.error().message().find("larger subnet"), std::string::npos);
}

TEST(IpAllocatorTest, CrossesOctetBoundaryInLargeSubnets) {
  IpAllocator a = Subnet("10.80.0.0/16");
  std::set<std::string> used;
  for (int i = 2; i < 256; ++i) used.insert("10.80.0." + std::to_string(i));
  EXPECT_EQ(*a.Allocate(used), "10.80.1.0");
}

TEST(IpAllocatorTest, RejectsBadSubnets) {
  for (const char* bad : {"10.77.0.0", "10.77.0.0/", "10.77.0.0/31", "10.77.0.0/7", "10.77.0/24",
                          "banana/24", "10.77.0.0/2x", ""}) {
    Result<IpAllocator> a = IpAllocator::Create(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.error().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(IpAllocatorTest, IsGuestAddress) {
  IpAllocator a = Subnet("10.77.0.0/24");
  EXPECT_TRUE(a.IsGuestAddress("10.77.0.2"));
  EXPECT_TRUE(a.IsGuestAddress("10.77.0.254"));
  EXPECT_FALSE(a.IsGuestAddress("10.77.0.0"));
  EXPECT_FALSE(a.IsGuestAddress("10.77.0.1"));
  EXPECT_FALSE(a.IsGuestAddress("10.77.0.255"));
  EXPECT_FALSE(a.IsGuestAddress("10.78.0.2"));
  EXPECT_FALSE(a.IsGuestAddress("nope"));
}

TEST(MacTest, MacForIpIsStableAndLocallyAdministered) {
  EXPECT_EQ(*MacForIp("10.77.0.5"), "52:54:00:4d:00:05");
  EXPECT_EQ(*MacForIp("10.77.0.5"), *MacForIp("10.77.0.5"));
  EXPECT_NE(*MacForIp("10.77.0.5"), *MacForIp("10.77.1.5"));
  MacAddress mac = *ParseMac(*MacForIp("10.1.2.3"));
  EXPECT_EQ(mac[0] & 0x02, 0x02);  // locally administered
  EXPECT_EQ(mac[0] & 0x01, 0x00);  // unicast
  EXPECT_FALSE(MacForIp("10.1.2").ok());
}

TEST(MacTest, ParseAndFormatRoundTrip) {
  Result<MacAddress> mac = ParseMac("52:54:00:AB:cd:0f");
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(FormatMac(*mac), "52:54:00:ab:cd:0f");
  for (const char* bad :
       {"", "52:54:00:ab:cd", "52:54:00:ab:cd:0g", "52-54-00-ab-cd-0f", "52:54:00:ab:cd:0f:"}) {
    EXPECT_FALSE(ParseMac(bad).ok()) << bad;
  }
}

TEST(MacTest, TapMacDiffersFromGuestMac) {
  MacAddress guest = *ParseMac("52:54:00:4d:00:05");
  EXPECT_EQ(FormatMac(TapMacFor(guest)), "fe:54:00:4d:00:05");
}

}  // namespace
}  // namespace warren

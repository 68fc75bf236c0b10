#include "dns/records.h"

#include <gtest/gtest.h>

namespace warren {
namespace {

TEST(DnsRecordsTest, SetAndLookupAreCaseInsensitive) {
  DnsRecords r;
  ASSERT_TRUE(r.Set("Web", "10.77.0.5").ok());
  EXPECT_EQ(r.LookupA("web"), 0x0a4d0005u);
  EXPECT_EQ(r.LookupA("WEB"), 0x0a4d0005u);
  EXPECT_EQ(r.LookupPtr(0x0a4d0005u), "web");
  EXPECT_FALSE(r.LookupA("db").has_value());
}

TEST(DnsRecordsTest, RejectsBadNamesAndAddresses) {
  DnsRecords r;
  EXPECT_EQ(r.Set("", "10.0.0.1").code(), Code::kInvalidArgument);
  EXPECT_EQ(r.Set("a.b", "10.0.0.1").code(), Code::kInvalidArgument);
  EXPECT_EQ(r.Set("-web", "10.0.0.1").code(), Code::kInvalidArgument);
  EXPECT_EQ(r.Set(std::string(64, 'a'), "10.0.0.1").code(), Code::kInvalidArgument);
  EXPECT_EQ(r.Set("web", "10.0.0").code(), Code::kInvalidArgument);
  EXPECT_EQ(r.Set("web", "::1").code(), Code::kInvalidArgument);
  EXPECT_TRUE(r.Snapshot().empty());
}

TEST(DnsRecordsTest, ReassignMovesTheReverse) {
  DnsRecords r;
  ASSERT_TRUE(r.Set("web", "10.0.0.1").ok());
  ASSERT_TRUE(r.Set("web", "10.0.0.2").ok());
  EXPECT_FALSE(r.LookupPtr(0x0a000001u).has_value());
  EXPECT_EQ(r.LookupPtr(0x0a000002u), "web");
  ASSERT_TRUE(r.Set("db", "10.0.0.2").ok());  // the address went to a new VM
  EXPECT_EQ(r.LookupPtr(0x0a000002u), "db");
  r.Remove("web");  // must not take db's reverse with it
  EXPECT_EQ(r.LookupPtr(0x0a000002u), "db");
}

TEST(DnsRecordsTest, RemoveForgetsBothDirectionsAndBumpsSerial) {
  DnsRecords r;
  uint32_t s0 = r.serial();
  ASSERT_TRUE(r.Set("web", "10.0.0.1").ok());
  uint32_t s1 = r.serial();
  EXPECT_GT(s1, s0);
  r.Remove("WEB");
  EXPECT_GT(r.serial(), s1);
  EXPECT_FALSE(r.LookupA("web").has_value());
  EXPECT_FALSE(r.LookupPtr(0x0a000001u).has_value());
  uint32_t s2 = r.serial();
  r.Remove("web");  // absent: no change
  EXPECT_EQ(r.serial(), s2);
}

TEST(DnsRecordsTest, SnapshotIsSorted) {
  DnsRecords r;
  ASSERT_TRUE(r.Set("zeta", "10.0.0.3").ok());
  ASSERT_TRUE(r.Set("Alpha", "10.0.0.1").ok());
  std::vector<DnsEntry> want = {{"alpha", "10.0.0.1"}, {"zeta", "10.0.0.3"}};
  EXPECT_EQ(r.Snapshot(), want);
}

}  // namespace
}  // namespace warren

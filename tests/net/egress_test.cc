#include "net/egress.h"

#include <gtest/gtest.h>

#include "fresh_netns.h"
#include "net/bridge.h"
#include "net/netlink.h"
#include "net/nftables.h"
#include "net/tap_device.h"

namespace warren {
namespace {

std::string Spec(std::string_view text) {
  Result<EgressPolicy> p = ParseEgressSpec(text);
  return p.ok() ? p->Spec() : "error: " + p.status().message();
}

TEST(EgressSpecTest, NoneAllAndRangesAreCanonical) {
  EXPECT_EQ(Spec("all"), "all");
  EXPECT_EQ(Spec(" none "), "none");
  EXPECT_EQ(Spec("192.0.2.0/24"), "192.0.2.0/24");
  EXPECT_EQ(Spec("198.51.100.7"), "198.51.100.7/32");
  EXPECT_EQ(Spec("192.0.2.0/24, 10.0.0.0/8"), "10.0.0.0/8,192.0.2.0/24");
  EXPECT_EQ(Spec("0.0.0.0/0"), "0.0.0.0/0");
  // Ranges inside another go (nftables refuses overlapping set intervals);
  // duplicates too.
  EXPECT_EQ(Spec("10.1.0.0/16,10.0.0.0/8,10.0.0.0/8,192.0.2.9"), "10.0.0.0/8,192.0.2.9/32");
  Result<EgressPolicy> p = ParseEgressSpec("none");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind, EgressPolicy::Kind::kNone);
  p = ParseEgressSpec("10.0.0.0/8");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind, EgressPolicy::Kind::kCidrs);
  EXPECT_EQ(p->cidrs, std::vector<std::string>{"10.0.0.0/8"});
}

TEST(EgressSpecTest, BadSpecsNameTheProblemAndTheFix) {
  struct Case {
    const char* spec;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"", "give none, all, or ranges"},
           {"   ", "give none, all, or ranges"},
           {"nothing", "not none, all, or an IPv4 address"},
           {"10.0.0.1/8", "did you mean 10.0.0.0/8?"},
           {"10.0.0.0/33", "prefix length must be 0..32"},
           {"10.0.0.0/", "prefix length must be 0..32"},
           {"10.0.0.0/x", "prefix length must be 0..32"},
           {"10.0.0/8", "not none, all, or an IPv4 address"},
           {"2001:db8::/32", "IPv6 ranges are not supported"},
           {"none,10.0.0.0/8", "none stands alone"},
           {"10.0.0.0/8,all", "all stands alone"},
           {"10.0.0.0/8,,192.0.2.0/24", "has an empty range"},
           {"10.0.0.0/8,", "has an empty range"},
       }) {
    Result<EgressPolicy> p = ParseEgressSpec(c.spec);
    ASSERT_FALSE(p.ok()) << c.spec;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument) << c.spec;
    EXPECT_NE(p.status().message().find(c.says), std::string::npos)
        << c.spec << ": " << p.status().message();
  }
  std::string many;
  for (int i = 0; i <= static_cast<int>(kMaxEgressCidrs); ++i) {
    many += (i ? "," : "") + std::string("10.0.") + std::to_string(i) + ".0/24";
  }
  Result<EgressPolicy> p = ParseEgressSpec(many);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("at most 64"), std::string::npos) << p.status().message();
}

EgressTarget Target() {
  return EgressTarget{"vm-0a1b2c3d4e", "wtap7", "10.77.0.5", "wbr0", "10.77.0.1"};
}

TEST(EgressRulesTest, TableNameIsAnNftIdentifier) {
  EXPECT_EQ(EgressTableName("vm-0a1b2c3d4e"), "warren_egress_vm_0a1b2c3d4e");
}

TEST(EgressRulesTest, RemoveScriptIsIdempotentByConstruction) {
  EXPECT_EQ(EgressRemoveScript("vm-1"),
            "add table bridge warren_egress_vm_1\n"
            "delete table bridge warren_egress_vm_1\n"
            "add table ip warren_egress_vm_1\n"
            "delete table ip warren_egress_vm_1\n");
}

TEST(EgressRulesTest, InstallScriptGoldenForRanges) {
  Result<EgressPolicy> p = ParseEgressSpec("192.0.2.0/24,10.0.0.0/8");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(EgressInstallScript(Target(), *p),
            "add table bridge warren_egress_vm_0a1b2c3d4e\n"
            "delete table bridge warren_egress_vm_0a1b2c3d4e\n"
            "add table ip warren_egress_vm_0a1b2c3d4e\n"
            "delete table ip warren_egress_vm_0a1b2c3d4e\n"
            "table bridge warren_egress_vm_0a1b2c3d4e {\n"
            "  chain prerouting {\n"
            "    type filter hook prerouting priority filter; policy accept;\n"
            "    iif \"wtap7\" ether type ip ip saddr != 10.77.0.5 drop\n"
            "    iif \"wtap7\" ether type ip6 drop\n"
            "  }\n"
            "}\n"
            "table ip warren_egress_vm_0a1b2c3d4e {\n"
            "  chain forward {\n"
            "    type filter hook forward priority filter; policy accept;\n"
            "    iifname \"wbr0\" ip saddr 10.77.0.5 jump egress\n"
            "  }\n"
            "  chain input {\n"
            "    type filter hook input priority filter; policy accept;\n"
            "    iifname \"wbr0\" ip saddr 10.77.0.5 jump egress\n"
            "  }\n"
            "  chain egress {\n"
            "    ct state established,related accept\n"
            "    ip daddr 10.77.0.1 udp dport 53 accept\n"
            "    ip daddr 10.77.0.1 tcp dport 53 accept\n"
            "    ip daddr { 10.0.0.0/8, 192.0.2.0/24 } accept\n"
            "    reject with icmp type admin-prohibited\n"
            "  }\n"
            "}\n");
}

TEST(EgressRulesTest, NoneAllowsOnlyDnsAndReplies) {
  Result<EgressPolicy> p = ParseEgressSpec("none");
  ASSERT_TRUE(p.ok());
  const std::string script = EgressInstallScript(Target(), *p);
  EXPECT_EQ(script.find("ip daddr {"), std::string::npos) << script;
  EXPECT_NE(script.find("    ip daddr 10.77.0.1 tcp dport 53 accept\n"
                        "    reject with icmp type admin-prohibited\n"),
            std::string::npos)
      << script;
}

// The scripts as the kernel takes them: installing twice leaves one copy of
// each rule, removing twice is fine, and nothing of the VM is left.
TEST(EgressRulesTest, KernelTakesTheScriptsAndReinstallNeverDuplicates) {
  bool ran = RunInFreshNetns([](const std::string& dir) {
    Result<NetnsHandle> here = NetnsHandle::Current();
    ASSERT_TRUE(here.ok());
    ASSERT_TRUE(EnsureBridgeIn(*here, {"wbr0", "10.77.0.1/24"}).ok());
    Result<Netlink> nl = Netlink::OpenHere();
    ASSERT_TRUE(nl.ok());
    Result<Tap> tap = CreateTapHere(*nl, "wtap7", "wbr0");
    ASSERT_TRUE(tap.ok()) << tap.status().ToString();
    (void)dir;
    Result<EgressPolicy> p = ParseEgressSpec("192.0.2.0/24,10.0.0.0/8");
    ASSERT_TRUE(p.ok());
    for (int i = 0; i < 2; ++i) {
      Result<std::string> st = RunNft(EgressInstallScript(Target(), *p));
      ASSERT_TRUE(st.ok()) << st.status().ToString();
    }
    Result<std::string> ruleset = RunNft("list ruleset\n");
    ASSERT_TRUE(ruleset.ok());
    auto count = [&](std::string_view what) {
      size_t n = 0;
      for (size_t at = ruleset->find(what); at != std::string::npos;
           at = ruleset->find(what, at + 1)) {
        ++n;
      }
      return n;
    };
    EXPECT_EQ(count("table bridge warren_egress_vm_0a1b2c3d4e"), 1u) << *ruleset;
    EXPECT_EQ(count("table ip warren_egress_vm_0a1b2c3d4e"), 1u) << *ruleset;
    EXPECT_EQ(count("jump egress"), 2u) << *ruleset;
    EXPECT_EQ(count("admin-prohibited"), 1u) << *ruleset;
    for (int i = 0; i < 2; ++i) {
      Result<std::string> st = RunNft(EgressRemoveScript("vm-0a1b2c3d4e"));
      ASSERT_TRUE(st.ok()) << st.status().ToString();
    }
    ruleset = RunNft("list ruleset\n");
    ASSERT_TRUE(ruleset.ok());
    EXPECT_EQ(ruleset->find("warren_egress"), std::string::npos) << *ruleset;
  });
  if (!ran) GTEST_SKIP() << "needs root (network namespaces)";
}

}  // namespace
}  // namespace warren

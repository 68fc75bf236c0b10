#include "caps/egress.h"

#include <gtest/gtest.h>

#include "vm/vm_manager.h"

namespace warren {
namespace {

using nlohmann::json;

struct Recorder {
  std::vector<std::string> scripts;
  Status next = Status::Ok();
  NftApply Fn() {
    return [this](const std::string& s) {
      scripts.push_back(s);
      return next;
    };
  }
};

EgressOptions Opts(std::string mode) { return EgressOptions{std::move(mode), "wbr0", "10.77.0.1"}; }

VmRecord Vm() {
  VmRecord r;
  r.id = "vm-0a1b2c3d4e";
  r.name = "web";
  r.ip = "10.77.0.5";
  r.tap = "wtap7";
  return r;
}

TEST(EgressCapabilityTest, ValidateStoresTheCanonicalSpecPerMode) {
  Recorder rec;
  CreateRequest create;
  EgressCapability nat(Opts("nat"), rec.Fn());
  EXPECT_EQ(*nat.Validate("none", create), (json{{"spec", "none"}}));
  EXPECT_EQ(*nat.Validate("all", create), (json{{"spec", "all"}}));
  EXPECT_EQ(*nat.Validate("192.0.2.0/24, 10.0.0.0/8", create),
            (json{{"spec", "10.0.0.0/8,192.0.2.0/24"}}));
  EXPECT_EQ(nat.Validate(json::array({"none"}), create).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(nat.Validate("10.0.0.1/8", create).status().code(), Code::kInvalidArgument);

  EgressCapability isolated(Opts("isolated"), rec.Fn());
  EXPECT_EQ(*isolated.Validate("none", create), (json{{"spec", "none"}}));
  for (const char* spec : {"all", "192.0.2.0/24"}) {
    Result<json> r = isolated.Validate(spec, create);
    ASSERT_FALSE(r.ok()) << spec;
    EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
    EXPECT_NE(r.status().message().find("only egress none is valid"), std::string::npos)
        << r.status().message();
  }
  EgressCapability host(Opts("host"), rec.Fn());
  for (const char* spec : {"none", "all", "192.0.2.0/24"}) {
    Result<json> r = host.Validate(spec, create);
    ASSERT_FALSE(r.ok()) << spec;
    EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
    EXPECT_NE(r.status().message().find("network.mode = \"host\""), std::string::npos)
        << r.status().message();
  }
  EXPECT_TRUE(rec.scripts.empty()) << "Validate has no side effects";
}

TEST(EgressCapabilityTest, NatInstallsBeforeLaunchAndAtReadyRemovesAtStopAndDelete) {
  Recorder rec;
  EgressCapability cap(Opts("nat"), rec.Fn());
  VmRecord r = Vm();
  CapVm vm{r, "/tmp/vm"};
  const json settings{{"spec", "none"}};
  VmSpec spec;
  ASSERT_TRUE(cap.ContributeQemu(vm, settings, spec).ok());
  ASSERT_TRUE(cap.OnReady(vm, settings).ok());
  ASSERT_TRUE(cap.OnAdopt(vm, settings).ok());
  cap.OnStop(vm, settings);
  cap.OnDelete(vm, settings);
  const std::string install = EgressInstallScript(
      EgressTarget{r.id, "wtap7", "10.77.0.5", "wbr0", "10.77.0.1"}, *ParseEgressSpec("none"));
  const std::string remove = EgressRemoveScript(r.id);
  EXPECT_EQ(rec.scripts, (std::vector<std::string>{install, install, install, remove, remove}));
}

TEST(EgressCapabilityTest, AllMeansNoRuleAndAFailureFailsTheBoot) {
  Recorder rec;
  EgressCapability cap(Opts("nat"), rec.Fn());
  VmRecord r = Vm();
  CapVm vm{r, "/tmp/vm"};
  ASSERT_TRUE(cap.OnReady(vm, json{{"spec", "all"}}).ok());
  EXPECT_EQ(rec.scripts, std::vector<std::string>{EgressRemoveScript(r.id)});
  rec.next = Internal("nftables: boom");
  Status st = cap.OnReady(vm, json{{"spec", "none"}});
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_NE(st.message().find("egress \"none\" of VM web"), std::string::npos) << st.ToString();
  r.tap.clear();
  rec.next = Status::Ok();
  EXPECT_EQ(cap.OnReady(vm, json{{"spec", "none"}}).code(), Code::kFailedPrecondition);
  EXPECT_EQ(cap.OnReady(vm, json{{"nope", 1}}).code(), Code::kInternal);
}

TEST(EgressCapabilityTest, IsolatedNeedsNoRuleHostCannotEnforce) {
  Recorder rec;
  VmRecord r = Vm();
  CapVm vm{r, "/tmp/vm"};
  EgressCapability isolated(Opts("isolated"), rec.Fn());
  EXPECT_TRUE(isolated.OnReady(vm, json{{"spec", "none"}}).ok());
  EXPECT_TRUE(rec.scripts.empty());
  // Settings stored under another mode: host cannot enforce them, so the VM
  // does not start unfiltered.
  EgressCapability host(Opts("host"), rec.Fn());
  Status st = host.OnReady(vm, json{{"spec", "none"}});
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("warren vm egress web all"), std::string::npos) << st.ToString();
  EXPECT_TRUE(host.OnReady(vm, json{{"spec", "all"}}).ok());
  host.OnDelete(vm, json{{"spec", "none"}});
  EXPECT_TRUE(rec.scripts.empty());
}

TEST(EgressCapabilityTest, ChangeAppliesAtOnceOnlyWhenRunning) {
  Recorder rec;
  EgressCapability cap(Opts("nat"), rec.Fn());
  VmRecord r = Vm();
  CapVm vm{r, "/tmp/vm"};
  Result<json> changed = cap.Change(vm, json(), "192.0.2.0/24", /*running=*/false);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(*changed, (json{{"spec", "192.0.2.0/24"}}));
  EXPECT_TRUE(rec.scripts.empty());
  changed = cap.Change(vm, *changed, "none", /*running=*/true);
  ASSERT_TRUE(changed.ok());
  ASSERT_EQ(rec.scripts.size(), 1u);
  EXPECT_NE(rec.scripts[0].find("reject"), std::string::npos);
  EXPECT_EQ(cap.Change(vm, *changed, "bogus", true).status().code(), Code::kInvalidArgument);
  rec.next = Internal("nftables: boom");
  EXPECT_FALSE(cap.Change(vm, *changed, "all", true).ok()) << "a failed apply stores nothing";
  EXPECT_EQ(cap.Describe(json{{"spec", "none"}}), json("none"));
  EXPECT_EQ(cap.Describe(json()), json("all"));
}

}  // namespace
}  // namespace warren

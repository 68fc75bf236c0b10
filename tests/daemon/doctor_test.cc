#include "daemon/doctor.h"

#include <gtest/gtest.h>

#include "fakes/fake_host_probe.h"

namespace warren {
namespace {

class DoctorTest : public ::testing::Test {
 protected:
  DoctorTest() {
    in_.probe = &probe_;
    in_.layout = Layout::ForRoot("/tmp/warren-doctor-test");
    in_.check_config = [this] { return config_status_; };
    in_.check_store = [this] { return store_; };
    in_.daemon_version = [this] { return daemon_; };
  }

  const CheckResult& Find(const std::vector<CheckResult>& checks, const std::string& name) {
    for (const auto& c : checks) {
      if (c.name == name) return c;
    }
    ADD_FAILURE() << "no check named " << name;
    static CheckResult none;
    return none;
  }

  FakeHostProbe probe_;
  DoctorInputs in_;
  Status config_status_;
  Result<std::string> store_ = std::string("ok");
  Result<std::string> daemon_ = std::string(WARREN_VERSION);
};

TEST_F(DoctorTest, HealthyHostPassesEverything) {
  std::vector<CheckResult> checks = Doctor(in_);
  EXPECT_EQ(checks.size(), 12u);
  for (const auto& c : checks) EXPECT_EQ(c.level, CheckLevel::kPass) << c.name << ": " << c.found;
  EXPECT_FALSE(AnyFailed(checks));
}

TEST_F(DoctorTest, DaemonChecksAreAppendedOnlyWhenTheDaemonAnswers) {
  in_.daemon_checks = []() -> Result<std::vector<CheckResult>> {
    return std::vector<CheckResult>{
        {"vm network", CheckLevel::kPass, "bridge up", ""},
        {"dns (host)", CheckLevel::kFail, "no answer", "restart"}};
  };
  std::vector<CheckResult> checks = Doctor(in_);
  EXPECT_EQ(checks.size(), 14u);
  EXPECT_EQ(Find(checks, "dns (host)").level, CheckLevel::kFail);
  EXPECT_TRUE(AnyFailed(checks));

  daemon_ = Unavailable("cannot reach the warren daemon at /x; start it");
  checks = Doctor(in_);
  EXPECT_EQ(checks.size(), 12u);  // no daemon: its checks are skipped, not failed
}

TEST_F(DoctorTest, KvmPvmIsAWarningThatSaysTcg) {
  probe_.kvm = {KvmState::kPvm, "module kvm_pvm loaded"};
  std::vector<CheckResult> checks = Doctor(in_);
  const CheckResult& kvm = Find(checks, "kvm");
  EXPECT_EQ(kvm.level, CheckLevel::kWarn);
  EXPECT_NE(kvm.found.find("will use TCG"), std::string::npos) << kvm.found;
  EXPECT_NE(kvm.found.find("kvm_pvm"), std::string::npos);
  EXPECT_FALSE(AnyFailed(checks));
}

TEST_F(DoctorTest, ForcedKvmOnUnusableHostFails) {
  probe_.kvm = {KvmState::kPvm, "module kvm_pvm loaded"};
  in_.accelerator_setting = "kvm";
  std::vector<CheckResult> checks = Doctor(in_);
  const CheckResult& kvm = Find(checks, "kvm");
  EXPECT_EQ(kvm.level, CheckLevel::kFail);
  EXPECT_NE(kvm.fix.find("vm.accelerator"), std::string::npos);
}

TEST_F(DoctorTest, MissingPiecesFailWithTheirFix) {
  probe_.tun = false;
  probe_.cap_net_admin = false;
  probe_.netns = FailedPrecondition("unshare(CLONE_NEWNET): Operation not permitted");
  probe_.tool_versions["qemu-system-x86_64"] = std::nullopt;
  probe_.tool_versions["mmdebstrap"] = std::nullopt;
  std::vector<CheckResult> checks = Doctor(in_);
  EXPECT_TRUE(AnyFailed(checks));
  EXPECT_EQ(Find(checks, "tun").level, CheckLevel::kFail);
  EXPECT_EQ(Find(checks, "tun").fix, "modprobe tun");
  EXPECT_EQ(Find(checks, "cap_net_admin").level, CheckLevel::kFail);
  EXPECT_EQ(Find(checks, "netns").level, CheckLevel::kFail);
  EXPECT_NE(Find(checks, "netns").found.find("Operation not permitted"), std::string::npos);
  EXPECT_EQ(Find(checks, "qemu-system-x86_64").level, CheckLevel::kFail);
  EXPECT_EQ(Find(checks, "qemu-system-x86_64").fix, "apt-get install qemu-system-x86");
  // Image builds need mmdebstrap, but registering images does not: a warning.
  EXPECT_EQ(Find(checks, "mmdebstrap").level, CheckLevel::kWarn);
}

TEST_F(DoctorTest, LowDiskWarnsThenFails) {
  probe_.free_bytes = uint64_t{5} << 30;
  EXPECT_EQ(Find(Doctor(in_), "disk").level, CheckLevel::kWarn);
  probe_.free_bytes = uint64_t{1} << 30;
  EXPECT_EQ(Find(Doctor(in_), "disk").level, CheckLevel::kFail);
}

TEST_F(DoctorTest, ConfigStoreAndDaemonProblems) {
  config_status_ = InvalidArgument("config.toml: network.mode = \"bridged\" is not allowed");
  store_ = std::string("*** in database main ***\nPage 3 is never used");
  daemon_ = Unavailable("cannot reach the warren daemon at /run/warren/warren.sock");
  std::vector<CheckResult> checks = Doctor(in_);
  EXPECT_EQ(Find(checks, "config").level, CheckLevel::kFail);
  EXPECT_NE(Find(checks, "config").found.find("network.mode"), std::string::npos);
  EXPECT_EQ(Find(checks, "store").level, CheckLevel::kFail);
  EXPECT_EQ(Find(checks, "daemon").level, CheckLevel::kWarn);

  daemon_ = std::string("0.0.1-old");
  EXPECT_EQ(Find(Doctor(in_), "daemon").level, CheckLevel::kFail);
  store_ = NotFound("no store yet");
  EXPECT_EQ(Find(Doctor(in_), "store").level, CheckLevel::kPass);
}

}  // namespace
}  // namespace warren

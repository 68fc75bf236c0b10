#include "sys/host_probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "fakes/fake_host_probe.h"
#include "fakes/fake_runner.h"
#include "sys/test_util.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class RealHostProbeTest : public ::testing::Test {
 protected:
  RealHostProbe::Paths FakePaths() {
    RealHostProbe::Paths p;
    p.dev_kvm = tmp_.path() / "kvm";
    p.sys_module = tmp_.path() / "module";
    p.dev_tun = tmp_.path() / "tun";
    p.proc_status = tmp_.path() / "status";
    fs::create_directories(p.sys_module);
    return p;
  }
  TempDir tmp_;
  FakeRunner runner_;
};

uint64_t RealCapEff() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 16);
  }
  return 0;
}

TEST_F(RealHostProbeTest, KvmAbsentWithoutDevice) {
  RealHostProbe probe(&runner_, FakePaths());
  KvmFacts f = probe.ProbeKvm();
  EXPECT_EQ(f.state, KvmState::kAbsent);
  EXPECT_THAT(f.detail, HasSubstr("kvm"));
}

TEST_F(RealHostProbeTest, KvmPvmModuleWinsOverWorkingDevice) {
  auto paths = FakePaths();
  std::ofstream(paths.dev_kvm) << "";
  fs::create_directories(paths.sys_module / "kvm_pvm");
  RealHostProbe probe(&runner_, paths);
  KvmFacts f = probe.ProbeKvm();
  EXPECT_EQ(f.state, KvmState::kPvm);
  EXPECT_THAT(f.detail, HasSubstr("kvm_pvm"));
}

TEST_F(RealHostProbeTest, KvmBrokenWhenDeviceRejectsIoctls) {
  auto paths = FakePaths();
  std::ofstream(paths.dev_kvm) << "";  // a regular file: KVM_GET_API_VERSION fails
  RealHostProbe probe(&runner_, paths);
  KvmFacts f = probe.ProbeKvm();
  EXPECT_EQ(f.state, KvmState::kBroken);
  EXPECT_THAT(f.detail, HasSubstr("KVM_GET_API_VERSION"));
}

TEST(RealHostProbeMachineTest, ThisMachinesKvmIsClassified) {
  FakeRunner runner;
  RealHostProbe probe(&runner);
  KvmFacts f = probe.ProbeKvm();
  if (fs::exists("/dev/kvm") && fs::exists("/sys/module/kvm_pvm")) {
    EXPECT_EQ(f.state, KvmState::kPvm) << f.detail;
  } else if (!fs::exists("/dev/kvm")) {
    EXPECT_EQ(f.state, KvmState::kAbsent) << f.detail;
  } else {
    EXPECT_NE(f.state, KvmState::kPvm) << f.detail;
  }
}

TEST_F(RealHostProbeTest, TunAvailabilityFollowsDevice) {
  auto paths = FakePaths();
  EXPECT_FALSE(RealHostProbe(&runner_, paths).TunAvailable());
  paths.dev_tun = "/dev/null";
  EXPECT_TRUE(RealHostProbe(&runner_, paths).TunAvailable());
}

TEST_F(RealHostProbeTest, CapNetAdminReadsEffectiveBit12) {
  auto paths = FakePaths();
  std::ofstream(paths.proc_status)
      << "Name:\tx\nCapPrm:\t0000000000001000\nCapEff:\t0000000000000fff\n";
  EXPECT_FALSE(RealHostProbe(&runner_, paths).HasCapNetAdmin());
  std::ofstream(paths.proc_status) << "Name:\tx\nCapEff:\t0000000000001000\n";
  EXPECT_TRUE(RealHostProbe(&runner_, paths).HasCapNetAdmin());
  EXPECT_EQ(RealHostProbe(&runner_).HasCapNetAdmin(), ((RealCapEff() >> 12) & 1) == 1);
}

TEST(RealHostProbeMachineTest, NetnsProbeMatchesCapSysAdmin) {
  FakeRunner runner;
  RealHostProbe probe(&runner);
  Status st = probe.CanCreateNetns();
  constexpr int kCapSysAdmin = 21;
  if ((RealCapEff() >> kCapSysAdmin) & 1) {
    EXPECT_TRUE(st.ok()) << st.ToString();
  } else {
    EXPECT_EQ(st.code(), Code::kFailedPrecondition);
    EXPECT_THAT(st.message(), HasSubstr("unshare"));
  }
}

TEST_F(RealHostProbeTest, ToolVersionTakesFirstLine) {
  runner_.OnOutput({"qemu-img", "--version"},
                   "qemu-img version 7.2.0 (Debian 1:7.2+dfsg-7)\nCopyright (c) 2003-2022\n");
  RunResult mkfs;
  mkfs.exit_code = 0;
  mkfs.err = "mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version 1.47.0\n";
  runner_.On({"mkfs.ext4", "-V"}, mkfs);
  RealHostProbe probe(&runner_, FakePaths());
  EXPECT_EQ(probe.ToolVersion("qemu-img"), "qemu-img version 7.2.0 (Debian 1:7.2+dfsg-7)");
  EXPECT_EQ(probe.ToolVersion("mkfs.ext4"), "mke2fs 1.47.0 (5-Feb-2023)");
  EXPECT_EQ(probe.ToolVersion("mmdebstrap"), std::nullopt);  // no rule: not installed
  EXPECT_TRUE(runner_.Called({"mkfs.ext4", "-V"}));
}

TEST(RealHostProbeMachineTest, MissingToolIsNulloptWithRealRunner) {
  RealRunner runner;
  RealHostProbe probe(&runner);
  EXPECT_EQ(probe.ToolVersion("warren-no-such-tool"), std::nullopt);
  auto sh = probe.ToolVersion("/bin/sh");  // dash rejects --version but is installed
  EXPECT_TRUE(sh.has_value());
}

TEST_F(RealHostProbeTest, FreeBytesWalksUpToExistingParent) {
  RealHostProbe probe(&runner_, FakePaths());
  auto free = probe.FreeBytes(tmp_.path() / "not" / "yet" / "created");
  ASSERT_TRUE(free.ok()) << free.error().ToString();
  EXPECT_GT(*free, 0u);
}

TEST(ChooseAcceleratorTest, Table) {
  KvmFacts usable{KvmState::kUsable, "ok"};
  KvmFacts pvm{KvmState::kPvm, "module kvm_pvm loaded"};
  EXPECT_EQ(*ChooseAccelerator("auto", usable), Accelerator::kKvm);
  EXPECT_EQ(*ChooseAccelerator("auto", pvm), Accelerator::kTcg);
  EXPECT_EQ(*ChooseAccelerator("auto", KvmFacts{KvmState::kAbsent, ""}), Accelerator::kTcg);
  EXPECT_EQ(*ChooseAccelerator("kvm", usable), Accelerator::kKvm);
  EXPECT_EQ(*ChooseAccelerator("tcg", usable), Accelerator::kTcg);
  auto forced = ChooseAccelerator("kvm", pvm);
  ASSERT_FALSE(forced.ok());
  EXPECT_EQ(forced.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(forced.error().message(), HasSubstr("kvm_pvm"));
  auto bad = ChooseAccelerator("hvf", usable);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(AcceleratorName(Accelerator::kKvm), "kvm");
  EXPECT_EQ(AcceleratorName(Accelerator::kTcg), "tcg");
}

TEST(FakeHostProbeTest, FieldsAreAnswers) {
  FakeHostProbe probe;
  EXPECT_EQ(probe.ProbeKvm().state, KvmState::kUsable);
  probe.kvm = {KvmState::kPvm, "module kvm_pvm loaded"};
  probe.tool_versions["mmdebstrap"] = std::nullopt;
  probe.netns = FailedPrecondition("no netns");
  EXPECT_EQ(probe.ProbeKvm().state, KvmState::kPvm);
  EXPECT_EQ(probe.ToolVersion("mmdebstrap"), std::nullopt);
  EXPECT_EQ(probe.ToolVersion("qemu-img"), "qemu-img 1.0");
  EXPECT_FALSE(probe.CanCreateNetns().ok());
}

}  // namespace
}  // namespace warren

// Admission control through the real daemon binary, one real guest (TCG,
// the default image): a small [vm] memory_budget admits one 256 MiB VM and
// refuses the next whole; QEMU is the OOM killer's first choice, not the
// daemon; removing the VM gives its share back. (A real OOM kill, reported
// on its VM, is oom_e2e_test's.)
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "e2e/daemon_harness.h"
#include "sys/files.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Room for one 256 MiB VM (256 + 128 MiB overhead), not two.
const std::string kConfig =
    "[vm]\nmemory_budget = \"400MiB\"\nmemory_overhead = \"128MiB\"\n"
    "[network]\ntap_pool_size = 1\n";

// Lowering an oom_score_adj needs CAP_SYS_RESOURCE, which some containers
// withhold even from root.
bool HasSysResource() {
  Result<std::string> status = ReadFileToString("/proc/self/status");
  if (!status.ok()) return false;
  size_t at = status->find("CapEff:");
  if (at == std::string::npos) return false;
  unsigned long long caps = std::stoull(status->substr(at + 7), nullptr, 16);
  return (caps >> 24) & 1;  // CAP_SYS_RESOURCE
}

int ReadOomScoreAdj(pid_t pid) {
  Result<std::string> v = ReadFileToString("/proc/" + std::to_string(pid) + "/oom_score_adj");
  return v.ok() ? std::stoi(*v) : -1;
}

TEST(AdmissionE2eTest, BudgetRefusesTheSecondVmAndQemuIsTheOomKillersChoice) {
  WarrenDaemon d(kConfig);
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  ASSERT_TRUE(d.BuildDefaultImage().ok()) << d.Log();
  Result<json> a = d.CreateVm("a", 256);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->value("state", ""), "running");

  // The next one is refused at once, whole: no record, no directory, no TAP.
  const size_t taps = d.Taps().size();
  Result<json> b = d.Call("vm.create", {{"name", "b"}, {"image", "default"}, {"memory_mib", 256}});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(),
            "vm create b: needs 256 MiB + 128 MiB overhead, 16 MiB of the 400 MiB memory budget "
            "left (1 VM holds 384 MiB); stop a VM, lower --memory, or raise [vm] memory_budget");
  Result<json> list = d.Call("vm.list");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->dump().find("\"b\""), std::string::npos) << list->dump();
  EXPECT_FALSE(fs::exists(d.root() / "vms" / "b"));
  EXPECT_EQ(d.Taps().size(), taps);
  Result<json> status = d.Call("daemon.status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["memory"], json({{"budget_bytes", 400 << 20},
                                        {"used_bytes", 384 << 20},
                                        {"headroom_bytes", 16 << 20},
                                        {"overhead_bytes", 128 << 20},
                                        {"vms", 1}}));

  // The OOM killer's choice: QEMU high, the daemon low.
  std::vector<pid_t> qemus = d.QemuPids();
  ASSERT_EQ(qemus.size(), 1u);
  EXPECT_EQ(ReadOomScoreAdj(qemus[0]), 500);
  if (HasSysResource()) {
    EXPECT_EQ(ReadOomScoreAdj(d.pid()), -900);
  } else {  // the daemon keeps what it inherited, and says so
    EXPECT_NE(d.Log().find("the OOM killer may pick the daemon"), std::string::npos) << d.Log();
  }

  // Removing the VM gives its share back.
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "a"}, {"force", true}}).ok());
  EXPECT_TRUE(d.QemuPids().empty());
  Result<json> s = d.Call("daemon.status");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)["memory"].value("used_bytes", uint64_t{1}), 0u) << s->dump();
}

}  // namespace
}  // namespace warren::e2e

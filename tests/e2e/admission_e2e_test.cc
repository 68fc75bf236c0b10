// Admission control and OOM handling through the real daemon binary, one real
// guest (TCG, the default image): a small [vm] memory_budget admits one
// 256 MiB VM and refuses the next whole; then the admitted VM's QEMU is put
// in a memory cgroup made by this test (limit far below what the guest is
// about to touch), the kernel's OOM killer kills it, and the daemon reports
// that on the VM and keeps serving. Needs root and the cgroup v1 memory
// controller (what this machine has; cgroup v2 here carries no memory
// controller).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

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
constexpr std::string_view kOomError =
    "QEMU was killed by the kernel's OOM killer (host out of memory)";

// A cgroup v1 memory group made by the test; its processes are moved back to
// the root group and it is removed on destruction.
class MemoryCgroup {
 public:
  MemoryCgroup() : dir_("/sys/fs/cgroup/memory/warren-test-" + std::to_string(::getpid())) {}
  ~MemoryCgroup() {
    Result<std::string> procs = ReadFileToString(dir_ / "cgroup.procs");
    if (procs.ok()) {
      std::istringstream in(*procs);
      for (std::string pid; in >> pid;) (void)Write("/sys/fs/cgroup/memory/cgroup.procs", pid);
    }
    std::error_code ec;
    for (int i = 0; i < 100 && fs::exists(dir_, ec); ++i) {
      if (::rmdir(dir_.c_str()) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  Status Create() {
    std::error_code ec;
    if (!fs::exists("/sys/fs/cgroup/memory/cgroup.procs", ec)) {
      return FailedPrecondition("no cgroup v1 memory controller at /sys/fs/cgroup/memory");
    }
    if (!fs::create_directory(dir_, ec) || ec) return Internal("mkdir " + dir_.string());
    return Status::Ok();
  }
  Status Limit(const std::string& bytes) { return Write(dir_ / "memory.limit_in_bytes", bytes); }
  Status Add(pid_t pid) { return Write(dir_ / "cgroup.procs", std::to_string(pid)); }

 private:
  static Status Write(const fs::path& file, const std::string& value) {
    std::ofstream out(file);
    out << value << std::flush;
    return out ? Status::Ok() : Internal("write " + value + " to " + file.string());
  }
  const fs::path dir_;
};

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

TEST(AdmissionE2eTest, BudgetRefusesTheSecondVmAndAnOomKilledQemuIsReported) {
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

  // Memory pressure on the QEMU alone: moving it charges nothing it already
  // has (v1 does not move charges), so every page the guest touches from now
  // on counts against 8 MiB; the guest fills a 180 MiB tmpfs.
  MemoryCgroup cgroup;
  ASSERT_TRUE(cgroup.Create().ok());
  ASSERT_TRUE(cgroup.Limit(std::to_string(8 << 20)).ok());
  ASSERT_TRUE(cgroup.Add(qemus[0]).ok());
  (void)d.GuestExec("a", {"sh", "-c",
                          "mkdir -p /mnt/fill && mount -t tmpfs -o size=180M fill /mnt/fill && "
                          "dd if=/dev/zero of=/mnt/fill/x bs=1M count=180"});
  json vm;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(200))) {
    Result<json> got = d.Call("vm.inspect", {{"name", "a"}});
    ASSERT_TRUE(got.ok()) << got.status().ToString();  // the daemon keeps answering
    vm = *got;
    if (vm.value("state", "") == "failed") break;
  }
  EXPECT_EQ(vm.value("state", ""), "failed") << vm.dump();
  EXPECT_EQ(vm.value("error", ""), kOomError) << vm.dump();
  EXPECT_TRUE(d.Call("daemon.ping").ok());
  EXPECT_NE(d.Log().find("OOM killer"), std::string::npos);
  // Its share of the budget is back: b fits now.
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
    Result<json> s = d.Call("daemon.status");
    if (s.ok() && (*s)["memory"].value("vms", 1) == 0) break;
  }
  Result<json> s = d.Call("daemon.status");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)["memory"].value("used_bytes", uint64_t{1}), 0u);
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "a"}, {"force", true}}).ok());
  EXPECT_TRUE(d.QemuPids().empty());
}

}  // namespace
}  // namespace warren::e2e

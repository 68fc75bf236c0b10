#pragma once

// The VmManager test fixture (vm_manager_test.cc, vm_caps_test.cc): VmManager
// over fakes: FakeHypervisor, FakeTapSource, a fake wait_for_ssh, and a
// FakeRunner that runs the real qemu-img and genisoimage unless a test
// injects a failure.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "base/clock.h"
#include "fakes/fake_guest_agent.h"
#include "fakes/fake_hypervisor.h"
#include "fakes/fake_runner.h"
#include "image/seed.h"
#include "sys/test_util.h"
#include "vm/vm_manager.h"

namespace warren {

namespace fs = std::filesystem;

class VmManagerTest : public ::testing::Test {
protected:
  void SetUp() override {
    runner_.SetUnmatched([this](const RunSpec &spec, std::stop_token stop) {
      return real_.Run(spec, stop);
    });
    std::ofstream(dir_.path() / "rootfs.raw").write("\0", 1);
    fs::resize_file(dir_.path() / "rootfs.raw", 1 << 20);
    std::ofstream(dir_.path() / "vmlinuz") << "kernel";
    Result<SshKeyPair> client = GenerateEd25519KeyPair("warren-client");
    ASSERT_TRUE(client.ok()) << client.error().ToString();
    client_key_ = client->public_key;
    Result<std::unique_ptr<Store>> store =
        Store::Open(dir_.path() / "warren.db");
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    store_ = std::move(*store);
    OpenManager();
  }

  void TearDown() override { CloseManager(); }

  void OpenManager() {
    ops_ = std::make_unique<OpRegistry>(store_.get(), &clock_);
    VmManagerOptions options;
    options.vms_dir = dir_.path() / "vms";
    options.snapshots_dir = dir_.path() / "snapshots";
    options.run_dir = dir_.path() / "run";
    options.failed_logs_dir = dir_.path() / "failed";
    options.subnet = "10.77.0.0/24";
    options.search_domain = "vm.warren";
    options.client_public_key = client_key_;
    options.memory_budget_bytes = memory_budget_;
    options.memory_overhead_bytes = memory_overhead_;
    VmManagerDeps deps;
    deps.store = store_.get();
    deps.ops = ops_.get();
    deps.runner = &runner_;
    deps.hypervisor = &hypervisor_;
    deps.taps = &taps_;
    deps.clock = &clock_;
    deps.images = [this](std::string_view image) -> Result<ImageBoot> {
      if (image != "base")
        return NotFound("image \"" + std::string(image) + "\" not found");
      return ImageBoot{dir_.path() / "vmlinuz",
                       {},
                       dir_.path() / "rootfs.raw",
                       "console=ttyS0"};
    };
    deps.caps = &caps_;
    deps.connect_agent = agents_.Connector();
    deps.oom_killed = [this](pid_t pid) { return pid != 0 && pid == oom_pid_.load(); };
    // A guest busy (a core's worth per read) for busy_reads_ reads, then idle.
    deps.cpu_seconds = [this](pid_t) -> Result<double> {
      ++cpu_reads_;
      if (busy_reads_ > 0) {
        --busy_reads_;
        cpu_total_ = cpu_total_ + 1.0;
      }
      return cpu_total_.load();
    };
    deps.hooks.oom_killed = [this](const VmRecord &) { ++oom_events_; };
    deps.wait_for_ssh = [this](const GuestTarget &ep,
                               std::chrono::steady_clock::time_point,
                               std::stop_token stop) -> Status {
      ++ssh_waits_;
      if (block_ssh_) {
        while (!stop.stop_requested())
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return Cancelled("stopped waiting for " + ep.vm);
      }
      if (ep.host_key_public.rfind("ssh-ed25519 ", 0) != 0)
        return Internal("bad host key");
      return ssh_status_;
    };
    Result<std::unique_ptr<VmManager>> vms =
        VmManager::Create(options, std::move(deps));
    ASSERT_TRUE(vms.ok()) << vms.error().ToString();
    vms_ = std::move(*vms);
  }

  // What a daemon restart does: ops end, handles are dropped, QEMU keeps
  // running.
  void CloseManager() {
    if (ops_)
      ops_->Shutdown();
    vms_.reset();
    ops_.reset();
  }

  OpInfo WaitOp(const std::string &id) {
    Result<OpInfo> info =
        ops_->Wait(id, {}, [](const OpInfo &, const std::string *) {});
    EXPECT_TRUE(info.ok());
    return info.ok() ? *info : OpInfo{};
  }

  OpInfo CreateAndWait(const std::string &name) {
    Result<std::string> op =
        vms_->CreateVM(CreateRequest{name, "base", 1, 256, 2});
    EXPECT_TRUE(op.ok()) << op.error().ToString();
    return op.ok() ? WaitOp(*op) : OpInfo{};
  }

  // Nothing of any VM is left: record, lease, files, TAP, process.
  void ExpectNothingLeft() {
    Result<std::vector<VmRecord>> vms = store_->ListVms();
    ASSERT_TRUE(vms.ok());
    EXPECT_TRUE(vms->empty());
    EXPECT_TRUE(fs::is_empty(dir_.path() / "vms"));
    EXPECT_TRUE(fs::is_empty(dir_.path() / "run"));
    EXPECT_TRUE(taps_.held().empty());
    EXPECT_TRUE(hypervisor_.Alive().empty());
  }

  // Admission control (OpenManager reads them; unlimited unless a test sets one).
  uint64_t memory_budget_ = MemoryBudget::kUnlimited;
  uint64_t memory_overhead_ = 0;
  // The pid the fake kernel log names as OOM-killed, and the hook's count.
  std::atomic<pid_t> oom_pid_{0};
  std::atomic<int> busy_reads_{0};
  std::atomic<int> cpu_reads_{0};
  std::atomic<double> cpu_total_{0};
  std::atomic<int> oom_events_{0};
  CapabilityRegistry caps_; // empty unless a test adds capabilities
  TempDir dir_;
  RealRunner real_;
  FakeRunner runner_;
  SystemClock clock_;
  FakeHypervisor hypervisor_;
  FakeGuestAgents agents_;
  FakeTapSource taps_;
  std::string client_key_;
  std::atomic<bool> block_ssh_{false};
  std::atomic<int> ssh_waits_{0};
  Status ssh_status_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<OpRegistry> ops_;
  std::unique_ptr<VmManager> vms_;
};

} // namespace warren

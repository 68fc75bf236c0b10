// VmManager's snapshots over fakes (FakeHypervisor's "state" is one line):
// the snapshot directory and record, name clashes, restore of a VM's own
// snapshots only, delete, and what Recover removes after a crash.
#include <gtest/gtest.h>

#include <fstream>

#include "vm/vm_manager.h"
#include "vm/vm_manager_fixture.h"

namespace warren {
namespace {

class VmSnapshotTest : public VmManagerTest {
 protected:
  OpInfo Snapshot(const std::string &vm, const std::string &snap, bool stop = false) {
    Result<std::string> op = vms_->SnapshotVM(vm, snap, stop);
    EXPECT_TRUE(op.ok()) << op.error().ToString();
    return op.ok() ? WaitOp(*op) : OpInfo{};
  }
};

TEST_F(VmSnapshotTest, SnapshotIsWrittenRecordedAndTheGuestKeepsRunning) {
  ASSERT_EQ(CreateAndWait("web").state, OpState::kSucceeded);
  OpInfo op = Snapshot("web", "s1");
  ASSERT_EQ(op.state, OpState::kSucceeded) << op.error;
  EXPECT_EQ(op.result["name"], "s1");
  EXPECT_EQ(op.result["vm"], "web");
  EXPECT_EQ(op.result["image"], "base");
  const fs::path dir = dir_.path() / "snapshots/s1";
  for (const char *file : {"state", "disk.qcow2", "seed.iso"}) {
    EXPECT_TRUE(fs::exists(dir / file)) << file;
    EXPECT_TRUE(op.result["files"].contains(file)) << file;
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "snapshots/.tmp-s1"));
  EXPECT_EQ(vms_->Get("web")->state, VmState::kRunning);
  ASSERT_EQ(vms_->ListSnapshots()->size(), 1u);

  // Names are unique; bad names and stopped VMs are refused before any op.
  EXPECT_EQ(vms_->SnapshotVM("web", "s1", false).error().code(), Code::kAlreadyExists);
  EXPECT_EQ(vms_->SnapshotVM("web", "../x", false).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(vms_->SnapshotVM("nope", "s2", false).error().code(), Code::kNotFound);
  // The image under a snapshot counts as in use (and running: --force cannot remove it).
  ASSERT_TRUE(vms_->DeleteVM("web", true).ok());
  std::vector<ImageUser> users = vms_->ImageUsers("base");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0].vm, "snapshot s1");
  EXPECT_TRUE(users[0].running);

  ASSERT_TRUE(vms_->DeleteSnapshot("s1").ok());
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(vms_->GetSnapshot("s1").error().code(), Code::kNotFound);
  EXPECT_EQ(vms_->DeleteSnapshot("s1").code(), Code::kNotFound);
}

// A snapshot waits for a window in which QEMU is nearly idle (what the guest
// had in flight, every clone would do again), but not for ever.
TEST_F(VmSnapshotTest, SnapshotWaitsForAQuietGuest) {
  ASSERT_EQ(CreateAndWait("web").state, OpState::kSucceeded);
  cpu_reads_ = 0;
  busy_reads_ = 3;
  ASSERT_EQ(Snapshot("web", "s1").state, OpState::kSucceeded);
  EXPECT_EQ(busy_reads_, 0);
  EXPECT_EQ(cpu_reads_, 4);  // the first (busy since), two busy windows, a quiet one

  cpu_reads_ = 0;
  busy_reads_ = 1000;  // busy throughout: taken after the bounded wait
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(Snapshot("web", "s2").state, OpState::kSucceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_GE(cpu_reads_, 2);
  EXPECT_LE(cpu_reads_, 22);  // 2 s of 100 ms windows, and the first read
}

TEST_F(VmSnapshotTest, StopFlagLeavesTheVmStoppedAndStoppedVmsAreRefused) {
  ASSERT_EQ(CreateAndWait("web").state, OpState::kSucceeded);
  OpInfo op = Snapshot("web", "s1", /*stop=*/true);
  ASSERT_EQ(op.state, OpState::kSucceeded) << op.error;
  EXPECT_EQ(vms_->Get("web")->state, VmState::kStopped);
  EXPECT_TRUE(hypervisor_.Alive().empty());
  EXPECT_TRUE(taps_.held().empty());
  EXPECT_EQ(vms_->SnapshotVM("web", "s2", false).error().code(), Code::kFailedPrecondition);

  // A stopped VM is restored to running, admitted to the budget like a start.
  EXPECT_EQ(vms_->Memory().vms, 0u);
  ASSERT_TRUE(vms_->RestoreVM("web", "s1").ok());
  EXPECT_EQ(vms_->Get("web")->state, VmState::kRunning);
  EXPECT_EQ(hypervisor_.Alive().size(), 1u);
  EXPECT_EQ(vms_->Memory().vms, 1u);
}

TEST_F(VmSnapshotTest, RestoreLoadsTheStateIntoANewQemuOfItsOwnVmOnly) {
  ASSERT_EQ(CreateAndWait("web").state, OpState::kSucceeded);
  ASSERT_EQ(CreateAndWait("other").state, OpState::kSucceeded);
  ASSERT_EQ(Snapshot("web", "s1").state, OpState::kSucceeded);
  const pid_t before = static_cast<pid_t>(vms_->Get("web")->pid);
  std::ofstream(dir_.path() / "vms/web/disk.qcow2") << "changed after the snapshot";

  Status other = vms_->RestoreVM("other", "s1");
  EXPECT_EQ(other.code(), Code::kFailedPrecondition);
  EXPECT_NE(other.message().find("taken of VM \"web\""), std::string::npos) << other.ToString();

  ASSERT_TRUE(vms_->RestoreVM("web", "s1").ok());
  Result<VmRecord> web = vms_->Get("web");
  EXPECT_EQ(web->state, VmState::kRunning);
  EXPECT_NE(web->pid, before);
  EXPECT_FALSE(hypervisor_.Alive().contains(before));
  ASSERT_FALSE(hypervisor_.launches().empty());
  EXPECT_TRUE(hypervisor_.launches().back().incoming);
  // The disk is the snapshot's again.
  std::ifstream disk(dir_.path() / "vms/web/disk.qcow2");
  std::string head(4, '\0');
  disk.read(head.data(), 4);
  EXPECT_EQ(head, "QFI\xfb");
  // The guest's clock was stepped to the host's through its agent (it would
  // read the snapshot's time otherwise), once.
  std::vector<FakeGuestAgents::ClockStep> steps = agents_.clock_steps();
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].socket.filename(), web->id + ".agent");
  EXPECT_GT(steps[0].unix_time_ns, int64_t{1'700'000'000} * 1'000'000'000);
  // A guest without the agent is restored all the same, its clock unstepped.
  agents_.answering = false;
  ASSERT_TRUE(vms_->RestoreVM("web", "s1").ok());
  EXPECT_EQ(vms_->Get("web")->state, VmState::kRunning);
  EXPECT_EQ(agents_.clock_steps().size(), 1u);
  EXPECT_EQ(vms_->RestoreVM("web", "nope").code(), Code::kNotFound);
}

// A restore replaces the QEMU of a VM that keeps running: its memory share is
// kept throughout (as across a restart). A restore whose state does not load
// leaves the VM failed and holding nothing, its share included.
TEST_F(VmSnapshotTest, RestoreKeepsTheMemoryShareAndAFailedOneGivesItBack) {
  ASSERT_EQ(CreateAndWait("web").state, OpState::kSucceeded);
  ASSERT_EQ(Snapshot("web", "s1").state, OpState::kSucceeded);
  const MemoryUsage running = vms_->Memory();
  ASSERT_GT(running.used_bytes, 0u);
  ASSERT_TRUE(vms_->RestoreVM("web", "s1").ok());
  EXPECT_EQ(vms_->Memory().used_bytes, running.used_bytes);

  std::ofstream(dir_.path() / "snapshots/s1/state", std::ios::trunc) << "not a state";
  Status st = vms_->RestoreVM("web", "s1");
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
  Result<VmRecord> web = vms_->Get("web");
  EXPECT_EQ(web->state, VmState::kFailed);
  EXPECT_NE(web->error.find("no fake-apart to load"), std::string::npos) << web->error;
  EXPECT_TRUE(hypervisor_.Alive().empty());
  EXPECT_TRUE(taps_.held().empty());
  EXPECT_EQ(vms_->Memory().used_bytes, 0u);
}

TEST_F(VmSnapshotTest, RecoverRemovesWhatAnInterruptedSnapshotLeft) {
  ASSERT_EQ(CreateAndWait("web").state, OpState::kSucceeded);
  ASSERT_EQ(Snapshot("web", "kept").state, OpState::kSucceeded);
  CloseManager();
  // Killed before the rename, and between the rename and the record.
  fs::create_directories(dir_.path() / "snapshots/.tmp-half");
  std::ofstream(dir_.path() / "snapshots/.tmp-half/state") << "x";
  fs::create_directories(dir_.path() / "snapshots/unrecorded");
  OpenManager();
  ASSERT_TRUE(vms_->Recover().ok());
  EXPECT_FALSE(fs::exists(dir_.path() / "snapshots/.tmp-half"));
  EXPECT_FALSE(fs::exists(dir_.path() / "snapshots/unrecorded"));
  EXPECT_TRUE(fs::exists(dir_.path() / "snapshots/kept/state"));
  EXPECT_EQ(vms_->Get("web")->state, VmState::kRunning);
}

}  // namespace
}  // namespace warren

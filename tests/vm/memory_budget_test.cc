// Admission control: MemoryBudget's arithmetic and its races, then VmManager
// refusing creates and starts beyond the budget (over the VmManager fakes).
#include "vm/memory_budget.h"

#include <gtest/gtest.h>

#include <csignal>
#include <latch>
#include <thread>
#include <vector>

#include "vm/vm_manager_fixture.h"

namespace warren {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = kMiB << 10;

TEST(MemoryBudgetTest, CountsGuestMemoryPlusOverheadAndSaysTheNumbersWhenFull) {
  MemoryBudget budget(20 * kGiB, 64 * kMiB);
  for (int i = 0; i < 31; ++i) {
    ASSERT_TRUE(budget.Admit("vm-" + std::to_string(i), "vm create x", 586).ok()) << i;
  }
  // 31 × (586 + 64) MiB = 20150 MiB held, 330 MiB left of 20480.
  MemoryUsage u = budget.Usage();
  EXPECT_EQ(u.used_bytes, 31 * 650 * kMiB);
  EXPECT_EQ(u.headroom_bytes(), 330 * kMiB);
  EXPECT_EQ(u.vms, 31u);
  Status st = budget.Admit("vm-web", "vm create web", 512);
  EXPECT_EQ(st.code(), Code::kResourceExhausted);
  EXPECT_EQ(st.message(),
            "vm create web: needs 512 MiB + 64 MiB overhead, 330 MiB of the 20.0 GiB memory "
            "budget left (31 VMs hold 19.7 GiB); stop a VM, lower --memory, or raise [vm] "
            "memory_budget");
  EXPECT_EQ(budget.Usage().used_bytes, u.used_bytes);  // a refusal holds nothing
  // What fits still fits: 266 + 64 = 330 MiB exactly.
  EXPECT_TRUE(budget.Admit("vm-small", "vm create small", 266).ok());
  EXPECT_EQ(budget.Usage().headroom_bytes(), 0u);
}

TEST(MemoryBudgetTest, AdmitIsIdempotentPerVmAndReleaseGivesTheShareBack) {
  MemoryBudget budget(1 * kGiB, 128 * kMiB);
  ASSERT_TRUE(budget.Admit("a", "vm create a", 256).ok());
  ASSERT_TRUE(budget.Admit("a", "vm start a", 256).ok());  // counted once
  EXPECT_EQ(budget.Usage().used_bytes, 384 * kMiB);
  EXPECT_TRUE(budget.Holds("a"));
  ASSERT_TRUE(budget.Admit("b", "vm create b", 256).ok());
  EXPECT_EQ(budget.Admit("c", "vm create c", 256).code(), Code::kResourceExhausted);
  budget.Release("a");
  budget.Release("a");  // no-op
  EXPECT_FALSE(budget.Holds("a"));
  EXPECT_EQ(budget.Usage().used_bytes, 384 * kMiB);
  EXPECT_TRUE(budget.Admit("c", "vm create c", 256).ok());
}

TEST(MemoryBudgetTest, AdoptedVmsCountEvenBeyondTheBudget) {
  MemoryBudget budget(512 * kMiB, 0);
  budget.Hold("big", 1024);
  EXPECT_EQ(budget.Usage().used_bytes, 1 * kGiB);
  EXPECT_EQ(budget.Usage().headroom_bytes(), 0u);
  EXPECT_EQ(budget.Admit("small", "vm create small", 64).code(), Code::kResourceExhausted);
}

// Many creates racing for the last slots: exactly as many win as fit, every
// round, and what is held is exactly theirs.
TEST(MemoryBudgetTest, RacingAdmitsNeverOvershoot) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 200; ++round) {
    MemoryBudget budget(3 * 320 * kMiB + 100 * kMiB, 64 * kMiB);  // room for 3
    std::latch start(kThreads);
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        if (budget.Admit("vm-" + std::to_string(i), "vm create", 256).ok()) ++admitted;
      });
    }
    for (std::thread& t : threads) t.join();
    ASSERT_EQ(admitted.load(), 3) << "round " << round;
    ASSERT_EQ(budget.Usage().used_bytes, 3 * 320 * kMiB);
  }
}

TEST(MemoryBudgetTest, FormatsBytesAsTheMessagesDo) {
  EXPECT_EQ(FormatBytes(512 * kMiB), "512 MiB");
  EXPECT_EQ(FormatBytes(20 * kGiB), "20.0 GiB");
  EXPECT_EQ(FormatBytes(1536 * kMiB), "1.5 GiB");
  EXPECT_EQ(FormatBytes(12 << 10), "12 KiB");
}

// The VmManager side: a budget with room for one 256 MiB VM (+ 64 MiB).
class AdmissionTest : public VmManagerTest {
 protected:
  void SetUp() override {
    memory_budget_ = 400 * kMiB;
    memory_overhead_ = 64 * kMiB;
    VmManagerTest::SetUp();
  }
};

TEST_F(AdmissionTest, CreateBeyondTheBudgetIsRefusedAtOnceLeavingNothing) {
  ASSERT_EQ(CreateAndWait("a").state, OpState::kSucceeded);
  const size_t launches = hypervisor_.launches().size();
  Result<std::string> op = vms_->CreateVM(CreateRequest{"b", "base", 1, 256, 2});
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(op.error().message(),
            "vm create b: needs 256 MiB + 64 MiB overhead, 80 MiB of the 400 MiB memory budget "
            "left (1 VM holds 320 MiB); stop a VM, lower --memory, or raise [vm] memory_budget");
  EXPECT_EQ(vms_->Get("b").error().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(dir_.path() / "vms" / "b"));
  EXPECT_EQ(hypervisor_.launches().size(), launches);
  EXPECT_EQ(ops_->List().size(), 1u);  // no op was started for b
  // Deleting a gives its share back.
  ASSERT_TRUE(vms_->DeleteVM("a", /*force=*/true).ok());
  EXPECT_EQ(vms_->Memory().used_bytes, 0u);
  ASSERT_EQ(CreateAndWait("b").state, OpState::kSucceeded);
}

TEST_F(AdmissionTest, StopReleasesStartAdmitsRestartKeepsItsShare) {
  ASSERT_EQ(CreateAndWait("a").state, OpState::kSucceeded);
  ASSERT_TRUE(vms_->StopVM("a", true, std::chrono::seconds(0)).ok());
  EXPECT_EQ(vms_->Memory().vms, 0u);
  ASSERT_EQ(CreateAndWait("b").state, OpState::kSucceeded);
  Status st = vms_->StartVM("a");
  EXPECT_EQ(st.code(), Code::kResourceExhausted);
  EXPECT_EQ(st.message().rfind("vm start a: needs 256 MiB", 0), 0u) << st.message();
  EXPECT_EQ(vms_->Get("a")->state, VmState::kStopped);  // refused before anything
  // A restart of the running VM keeps its share: nothing can take it between.
  ASSERT_TRUE(vms_->RestartVM("b", std::chrono::seconds(1)).ok());
  EXPECT_EQ(vms_->Memory().used_bytes, 320 * kMiB);
  ASSERT_TRUE(vms_->StopVM("b", true, std::chrono::seconds(0)).ok());
  ASSERT_TRUE(vms_->StartVM("a").ok());
  EXPECT_EQ(vms_->Memory().vms, 1u);
}

TEST_F(AdmissionTest, AFailedCreateGivesItsShareBack) {
  ssh_status_ = DeadlineExceeded("injected SSH timeout");
  EXPECT_EQ(CreateAndWait("a").state, OpState::kFailed);
  EXPECT_EQ(vms_->Memory().used_bytes, 0u);
  ssh_status_ = Status::Ok();
  EXPECT_EQ(CreateAndWait("b").state, OpState::kSucceeded);
}

// Two creates racing for the one slot: one wins, the other is refused whole.
TEST_F(AdmissionTest, TwoCreatesRacingForTheLastSlotAdmitOne) {
  for (int round = 0; round < 20; ++round) {
    std::latch start(2);
    Result<std::string> ops[2] = {Internal("unset"), Internal("unset")};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        ops[i] = vms_->CreateVM(CreateRequest{"r" + std::to_string(i), "base", 1, 256, 2});
      });
    }
    for (std::thread& t : threads) t.join();
    ASSERT_NE(ops[0].ok(), ops[1].ok()) << "round " << round;
    const int winner = ops[0].ok() ? 0 : 1;
    EXPECT_EQ(ops[1 - winner].error().code(), Code::kResourceExhausted);
    ASSERT_EQ(WaitOp(*ops[winner]).state, OpState::kSucceeded);
    EXPECT_EQ(vms_->List()->size(), 1u);
    ASSERT_TRUE(vms_->DeleteVM("r" + std::to_string(winner), true).ok());
  }
  ExpectNothingLeft();
}

TEST_F(AdmissionTest, QemuKilledByTheOomKillerIsReportedAndReleased) {
  ASSERT_EQ(CreateAndWait("a").state, OpState::kSucceeded);
  const pid_t pid = static_cast<pid_t>(vms_->Get("a")->pid);
  oom_pid_ = pid;
  hypervisor_.ExitForTest(pid, -1, SIGKILL);
  Result<VmRecord> a = vms_->Get("a");
  EXPECT_EQ(a->state, VmState::kFailed);
  EXPECT_EQ(a->error, kOomKilledError);
  EXPECT_EQ(oom_events_.load(), 1);
  // The exit worker gives the share back (under the VM's lock, soon).
  for (int i = 0; i < 500 && vms_->Memory().vms != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(vms_->Memory().vms, 0u);
}

TEST_F(AdmissionTest, ASigkillNotFromTheOomKillerStaysASignal) {
  ASSERT_EQ(CreateAndWait("a").state, OpState::kSucceeded);
  hypervisor_.ExitForTest(static_cast<pid_t>(vms_->Get("a")->pid), -1, SIGKILL);
  EXPECT_EQ(vms_->Get("a")->error, "QEMU was killed by signal 9");
  EXPECT_EQ(oom_events_.load(), 0);
}

}  // namespace
}  // namespace warren

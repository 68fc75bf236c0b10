// The capability hooks as the VM manager calls them: a recording fake
// capability, registered twice ("a" then "b"), through create, start, stop,
// restart, rm, every rollback, a crash rolled back by Recover, adoption, a QEMU
// exiting on its own, and a change on a running VM.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "base/mutex.h"
#include "vm/vm_manager_fixture.h"

namespace warren {
namespace {

using Log = std::vector<std::string>;

// Every hook call, in order, across capabilities and threads.
class HookLog {
public:
  void Add(std::string entry) {
    MutexLock lock(&mu_);
    log_.push_back(std::move(entry));
  }
  Log Take() {
    MutexLock lock(&mu_);
    return std::exchange(log_, {});
  }
  Log Peek() {
    MutexLock lock(&mu_);
    return log_;
  }

private:
  Mutex mu_{LockRank::kLeaf, "hook_log"};
  Log log_ GUARDED_BY(mu_);
};

// Settings: {"n": request} (Validate wraps, so a hook seeing them shows the
// stored settings, not the request, arrived). Fails where told.
class RecordingCap final : public Capability {
public:
  RecordingCap(std::string name, HookLog *log) : name_(std::move(name)), log_(log) {}
  std::string_view Name() const override { return name_; }

  Result<nlohmann::json> Validate(const nlohmann::json &request,
                                  const CreateRequest &create) override {
    log_->Add(name_ + ":Validate:" + create.name);
    if (!request.is_number())
      return InvalidArgument(name_ + " wants a number");
    return nlohmann::json{{"n", request}};
  }
  Status ContributeSeed(const CapVm &vm, const nlohmann::json &s, SeedSpec &seed) override {
    log_->Add(name_ + ":Seed:" + s.dump() + ":" + seed.hostname + ":" + vm.record.name);
    return Status::Ok();
  }
  Status ContributeQemu(const CapVm &, const nlohmann::json &s, VmSpec &spec) override {
    log_->Add(name_ + ":Qemu:" + s.dump());
    spec.cmdline += " cap_" + name_ + "=" + s["n"].dump();
    return Status::Ok();
  }
  Status OnReady(const CapVm &vm, const nlohmann::json &) override {
    log_->Add(name_ + ":Ready");
    if (fail_ready)
      return Unavailable("injected " + name_ + " OnReady failure");
    return vm.record.ip.empty() ? Internal("no ip") : Status::Ok();
  }
  void OnStop(const CapVm &, const nlohmann::json &) override { log_->Add(name_ + ":Stop"); }
  void OnDelete(const CapVm &, const nlohmann::json &s) override {
    log_->Add(name_ + ":Delete:" + s.dump());
  }
  Status OnAdopt(const CapVm &, const nlohmann::json &) override {
    log_->Add(name_ + ":Adopt");
    return Status::Ok();
  }
  Result<nlohmann::json> Change(const CapVm &, const nlohmann::json &settings,
                                const nlohmann::json &change, bool running) override {
    log_->Add(name_ + ":Change:" + settings.dump() + (running ? ":running" : ":stopped"));
    return nlohmann::json{{"n", change}};
  }
  nlohmann::json Describe(const nlohmann::json &s) const override {
    return {{"described", s["n"]}};
  }

  std::atomic<bool> fail_ready{false};

private:
  const std::string name_;
  HookLog *const log_;
};

class VmCapsTest : public VmManagerTest {
protected:
  void SetUp() override {
    auto a = std::make_unique<RecordingCap>("a", &log_);
    auto b = std::make_unique<RecordingCap>("b", &log_);
    a_ = a.get();
    b_ = b.get();
    caps_.Add(std::move(a));
    caps_.Add(std::move(b));
    VmManagerTest::SetUp();
  }

  OpInfo CreateWithCaps(const std::string &name, nlohmann::json caps) {
    CreateRequest req{name, "base", 1, 256, 2};
    req.caps = std::move(caps);
    Result<std::string> op = vms_->CreateVM(req);
    EXPECT_TRUE(op.ok()) << op.error().ToString();
    return op.ok() ? WaitOp(*op) : OpInfo{};
  }

  size_t StoredRows(const std::string &vm_id) {
    Result<std::vector<VmCapRecord>> rows = store_->ListVmCaps(vm_id);
    EXPECT_TRUE(rows.ok());
    return rows.ok() ? rows->size() : 0;
  }

  // Rows in vm_caps, of any VM.
  int64_t AllCapRows() {
    int64_t count = -1;
    EXPECT_TRUE(store_->Transaction([&](Tx &tx) -> Status {
      sqlite3_stmt *st = nullptr;
      if (sqlite3_prepare_v2(tx.db(), "SELECT COUNT(*) FROM vm_caps", -1, &st, nullptr) !=
          SQLITE_OK)
        return Internal("prepare");
      if (sqlite3_step(st) == SQLITE_ROW)
        count = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
      return Status::Ok();
    }).ok());
    return count;
  }

  HookLog log_;
  RecordingCap *a_ = nullptr;
  RecordingCap *b_ = nullptr;
};

TEST_F(VmCapsTest, LifecycleCallsHooksInRegistryOrderAndUndoesInReverse) {
  // Requested in the other order: the registry's order is what counts.
  OpInfo op = CreateWithCaps("web", {{"b", 2}, {"a", 1}});
  ASSERT_EQ(op.state, OpState::kSucceeded) << op.error;
  EXPECT_EQ(log_.Take(), (Log{"a:Validate:web", "b:Validate:web", R"(a:Seed:{"n":1}:web:web)",
                              R"(b:Seed:{"n":2}:web:web)", R"(a:Qemu:{"n":1})",
                              R"(b:Qemu:{"n":2})", "a:Ready", "b:Ready"}));
  ASSERT_EQ(hypervisor_.launches().size(), 1u);
  EXPECT_NE(hypervisor_.launches()[0].cmdline.find("cap_a=1 cap_b=2"), std::string::npos);
  VmRecord vm = *vms_->Get("web");
  EXPECT_EQ(StoredRows(vm.id), 2u);
  EXPECT_EQ(*vms_->DescribeCaps(vm),
            (nlohmann::json{{"a", {{"described", 1}}}, {"b", {{"described", 2}}}}));

  ASSERT_TRUE(vms_->StopVM("web", false, std::chrono::seconds(1)).ok());
  EXPECT_EQ(log_.Take(), (Log{"b:Stop", "a:Stop"}));
  // Stopping a stopped VM stops nothing twice.
  ASSERT_TRUE(vms_->StopVM("web", false, std::chrono::seconds(1)).ok());
  EXPECT_EQ(log_.Take(), Log{});

  ASSERT_TRUE(vms_->StartVM("web").ok());
  EXPECT_EQ(log_.Take(), (Log{R"(a:Qemu:{"n":1})", R"(b:Qemu:{"n":2})", "a:Ready", "b:Ready"}));
  ASSERT_TRUE(vms_->RestartVM("web", std::chrono::seconds(1)).ok());
  EXPECT_EQ(log_.Take(), (Log{"b:Stop", "a:Stop", R"(a:Qemu:{"n":1})", R"(b:Qemu:{"n":2})",
                              "a:Ready", "b:Ready"}));

  ASSERT_TRUE(vms_->DeleteVM("web", true).ok());
  EXPECT_EQ(log_.Take(),
            (Log{"b:Stop", "a:Stop", R"(b:Delete:{"n":2})", R"(a:Delete:{"n":1})"}));
  EXPECT_EQ(StoredRows(vm.id), 0u);
  ExpectNothingLeft();
}

TEST_F(VmCapsTest, OnlyRequestedCapabilitiesAreCalled) {
  ASSERT_EQ(CreateWithCaps("web", {{"b", 7}}).state, OpState::kSucceeded);
  EXPECT_EQ(log_.Take(), (Log{"b:Validate:web", R"(b:Seed:{"n":7}:web:web)", R"(b:Qemu:{"n":7})",
                              "b:Ready"}));
  EXPECT_EQ(*vms_->DescribeCaps(*vms_->Get("web")),
            (nlohmann::json{{"b", {{"described", 7}}}}));
  ASSERT_EQ(CreateAndWait("plain").state, OpState::kSucceeded);
  EXPECT_EQ(log_.Take(), Log{});
  EXPECT_EQ(*vms_->DescribeCaps(*vms_->Get("plain")), nlohmann::json::object());
}

TEST_F(VmCapsTest, RefusedBeforeAnythingIsReserved) {
  CreateRequest unknown{"web", "base"};
  unknown.caps = {{"a", 1}, {"nope", 1}};
  Result<std::string> op = vms_->CreateVM(unknown);
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().code(), Code::kInvalidArgument);
  EXPECT_NE(op.error().message().find("known: a, b"), std::string::npos) << op.error().ToString();

  CreateRequest invalid{"web", "base"};
  invalid.caps = {{"a", 1}, {"b", "not a number"}};
  op = vms_->CreateVM(invalid);
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().ToString().find("b wants a number") != std::string::npos, true);
  EXPECT_EQ(log_.Take(), (Log{"a:Validate:web", "b:Validate:web"}));

  CreateRequest not_object{"web", "base"};
  not_object.caps = nlohmann::json::array();
  EXPECT_EQ(vms_->CreateVM(not_object).error().code(), Code::kInvalidArgument);
  ExpectNothingLeft();
}

// A create that fails at any step undoes every capability from its stored
// settings, and leaves no row.
enum class CapFailAt { kDisk, kSeed, kTap, kLaunch, kSsh, kReady };

class VmCapsRollbackTest : public VmCapsTest, public ::testing::WithParamInterface<CapFailAt> {};

TEST_P(VmCapsRollbackTest, EveryStepUndoesTheCapabilities) {
  Log want_tail = {R"(b:Delete:{"n":2})", R"(a:Delete:{"n":1})"};
  switch (GetParam()) {
  case CapFailAt::kDisk:
    runner_.OnError({"qemu-img"}, Internal("injected qemu-img failure"));
    break;
  case CapFailAt::kSeed:
    runner_.OnError({"genisoimage"}, Internal("injected genisoimage failure"));
    break;
  case CapFailAt::kTap:
    taps_.FailTake(Unavailable("injected TAP failure"));
    break;
  case CapFailAt::kLaunch:
    hypervisor_.FailLaunch(Internal("injected launch failure"));
    break;
  case CapFailAt::kSsh:
    ssh_status_ = DeadlineExceeded("injected SSH timeout");
    break;
  case CapFailAt::kReady:
    b_->fail_ready = true;  // a is up by then: both are stopped, then deleted
    want_tail.insert(want_tail.begin(), {"b:Stop", "a:Stop"});
    break;
  }
  OpInfo op = CreateWithCaps("web", {{"a", 1}, {"b", 2}});
  EXPECT_EQ(op.state, OpState::kFailed);
  EXPECT_NE(op.error.find("injected"), std::string::npos) << op.error;
  Log log = log_.Take();
  ASSERT_GE(log.size(), want_tail.size());
  EXPECT_EQ(Log(log.end() - static_cast<long>(want_tail.size()), log.end()), want_tail)
      << ::testing::PrintToString(log);
  ExpectNothingLeft();
  EXPECT_EQ(AllCapRows(), 0);
}

INSTANTIATE_TEST_SUITE_P(EachStep, VmCapsRollbackTest,
                         ::testing::Values(CapFailAt::kDisk, CapFailAt::kSeed, CapFailAt::kTap, CapFailAt::kLaunch,
                                           CapFailAt::kSsh, CapFailAt::kReady));

TEST_F(VmCapsTest, RecoverRollsBackACrashedCreateFromTheStoredSettings) {
  CloseManager();
  VmRecord vm;
  vm.id = "vm-crashed";
  vm.name = "half";
  vm.image = "base";
  vm.state = VmState::kCreating;
  vm.step = "launch";
  vm.ip = "10.77.0.9";
  vm.mac = "52:54:00:4d:00:09";
  ASSERT_TRUE(store_->Transaction([&](Tx &tx) -> Status {
    RETURN_IF_ERROR(tx.InsertVm(vm));
    RETURN_IF_ERROR(tx.PutVmCap({vm.id, "a", R"({"n":5})"}));
    // A row of a capability this daemon does not know is skipped, and goes too.
    return tx.PutVmCap({vm.id, "gone", "{}"});
  }).ok());
  OpenManager();
  ASSERT_TRUE(vms_->Recover().ok());
  EXPECT_EQ(log_.Take(), Log{R"(a:Delete:{"n":5})"});
  EXPECT_EQ(AllCapRows(), 0);
  ExpectNothingLeft();
}

TEST_F(VmCapsTest, RecoverAdoptsRunningVmsAndStopsDeadOnes) {
  ASSERT_EQ(CreateWithCaps("alive", {{"a", 1}}).state, OpState::kSucceeded);
  ASSERT_EQ(CreateWithCaps("dead", {{"b", 2}}).state, OpState::kSucceeded);
  VmRecord dead = *vms_->Get("dead");
  CloseManager();
  hypervisor_.MarkDeadForTest(static_cast<pid_t>(dead.pid));
  log_.Take();
  OpenManager();
  ASSERT_TRUE(vms_->Recover().ok());
  EXPECT_EQ(log_.Take(), (Log{"a:Adopt", "b:Stop"}));
  // The adopted VM's capabilities are up: a stop stops them.
  ASSERT_TRUE(vms_->StopVM("alive", false, std::chrono::seconds(1)).ok());
  EXPECT_EQ(log_.Take(), Log{"a:Stop"});
}

TEST_F(VmCapsTest, QemuExitingOnItsOwnStopsTheCapabilitiesOnce) {
  ASSERT_EQ(CreateWithCaps("web", {{"a", 1}, {"b", 2}}).state, OpState::kSucceeded);
  log_.Take();
  hypervisor_.ExitForTest(static_cast<pid_t>(vms_->Get("web")->pid), -1, 9);
  ASSERT_TRUE(PollUntil([&] { return log_.Peek().size() >= 2; }, std::chrono::seconds(10)))
      << "OnStop never ran after QEMU exited";
  EXPECT_EQ(log_.Take(), (Log{"b:Stop", "a:Stop"}));
  // A later stop or start does not stop them again; a start brings them up.
  ASSERT_TRUE(vms_->StopVM("web", false, std::chrono::seconds(1)).ok());
  ASSERT_TRUE(vms_->StartVM("web").ok());
  EXPECT_EQ(log_.Take(), (Log{R"(a:Qemu:{"n":1})", R"(b:Qemu:{"n":2})", "a:Ready", "b:Ready"}));
}

TEST_F(VmCapsTest, ChangeStoresNewSettingsUnderTheVmLock) {
  ASSERT_EQ(CreateWithCaps("web", {{"a", 1}}).state, OpState::kSucceeded);
  log_.Take();
  Result<nlohmann::json> changed = vms_->ChangeCapability("web", "a", 9);
  ASSERT_TRUE(changed.ok()) << changed.error().ToString();
  EXPECT_EQ(*changed, (nlohmann::json{{"described", 9}}));
  // A capability the VM had no settings for starts from null.
  ASSERT_TRUE(vms_->StopVM("web", true, std::chrono::seconds(0)).ok());
  ASSERT_TRUE(vms_->ChangeCapability("web", "b", 3).ok());
  EXPECT_EQ(log_.Take(),
            (Log{R"(a:Change:{"n":1}:running)", "a:Stop", "b:Change:null:stopped"}));
  EXPECT_EQ(*vms_->DescribeCaps(*vms_->Get("web")),
            (nlohmann::json{{"a", {{"described", 9}}}, {"b", {{"described", 3}}}}));
  // The next boot gets the stored settings.
  ASSERT_TRUE(vms_->StartVM("web").ok());
  EXPECT_EQ(log_.Take(), (Log{R"(a:Qemu:{"n":9})", R"(b:Qemu:{"n":3})", "a:Ready", "b:Ready"}));
  EXPECT_EQ(vms_->ChangeCapability("web", "nope", 1).error().code(), Code::kNotFound);
  EXPECT_EQ(vms_->ChangeCapability("ghost", "a", 1).error().code(), Code::kNotFound);
}

TEST(CapabilityRegistryTest, KeepsRegistrationOrderAndFindsByName) {
  HookLog log;
  CapabilityRegistry registry;
  registry.Add(std::make_unique<RecordingCap>("z", &log));
  registry.Add(std::make_unique<RecordingCap>("m", &log));
  ASSERT_EQ(registry.all().size(), 2u);
  EXPECT_EQ(registry.all()[0]->Name(), "z");
  EXPECT_EQ(registry.all()[1]->Name(), "m");
  EXPECT_EQ(registry.Find("m"), registry.all()[1].get());
  EXPECT_EQ(registry.Find("q"), nullptr);
  EXPECT_DEATH(registry.Add(std::make_unique<RecordingCap>("z", &log)), "CHECK failed");
}

} // namespace
} // namespace warren

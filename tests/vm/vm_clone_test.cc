// Clones (`vm create --from SNAP`) over fakes: the disk overlays the
// snapshot's, the QEMU resumes the snapshot with its seed, the guest is
// re-identified behind a TAP held down, the clone's record points at its
// snapshot (which then cannot be deleted), and what is refused before
// anything is reserved.
#include <gtest/gtest.h>

#include <fstream>

#include "vm/vm_manager.h"
#include "vm/vm_manager_fixture.h"

namespace warren {
namespace {

class VmCloneTest : public VmManagerTest {
 protected:
  void SnapshotWeb(const std::string& snap) {
    ASSERT_EQ(CreateAndWait("web").state, OpState::kSucceeded);
    Result<std::string> op = vms_->SnapshotVM("web", snap, false);
    ASSERT_TRUE(op.ok()) << op.error().ToString();
    OpInfo done = WaitOp(*op);
    ASSERT_EQ(done.state, OpState::kSucceeded) << done.error;
  }
  static CreateRequest Clone(const std::string& name, const std::string& snap) {
    CreateRequest r{name, "", 0, 0, 0};
    r.from_snapshot = snap;
    return r;
  }
  OpInfo CloneAndWait(const std::string& name, const std::string& snap) {
    Result<std::string> op = vms_->CreateVM(Clone(name, snap));
    EXPECT_TRUE(op.ok()) << op.error().ToString();
    return op.ok() ? WaitOp(*op) : OpInfo{};
  }
};

// A capability that acts at first boot (as share, ssh_key, user_data do).
class FirstBootCap final : public Capability {
 public:
  std::string_view Name() const override { return "firstboot"; }
  bool NeedsFirstBoot() const override { return true; }
  Result<nlohmann::json> Validate(const nlohmann::json& request, const CreateRequest&) override {
    return request;
  }
};

TEST_F(VmCloneTest, CloneResumesTheSnapshotAsItselfBehindADownTapUntilReidentified) {
  SnapshotWeb("s1");
  const VmRecord web = *vms_->Get("web");
  // What the fake hypervisor had done to the clone's guest, and the TAPs
  // set down or up, when its agent was asked to re-identify it.
  std::vector<std::string> guest_at_reidentify, links_at_reidentify;
  agents_.OnReidentify([&](const fs::path&) {
    guest_at_reidentify = hypervisor_.guest_events(*hypervisor_.Alive().rbegin());  // the newest
    links_at_reidentify = taps_.links();
  });

  OpInfo op = CloneAndWait("c1", "s1");
  ASSERT_EQ(op.state, OpState::kSucceeded) << op.error;
  Result<VmRecord> c1 = vms_->Get("c1");
  ASSERT_TRUE(c1.ok());
  EXPECT_EQ(c1->state, VmState::kRunning);
  EXPECT_EQ(c1->snapshot, "s1");
  EXPECT_EQ(op.result["snapshot"], "s1");
  // The snapshot's shape, its own address and MAC.
  EXPECT_EQ(c1->image, "base");
  EXPECT_EQ(c1->memory_mib, web.memory_mib);
  EXPECT_EQ(c1->cpus, web.cpus);
  EXPECT_NE(c1->ip, web.ip);
  EXPECT_NE(c1->mac, web.mac);

  // Its QEMU resumed the snapshot, with the snapshot's seed; its disk is an
  // overlay on the snapshot's frozen disk, and it has a seed of its own for
  // later cold boots.
  const VmSpec spec = hypervisor_.launches().back();
  EXPECT_TRUE(spec.incoming);
  EXPECT_EQ(spec.seed, dir_.path() / "snapshots/s1/seed.iso");
  EXPECT_EQ(spec.disk, dir_.path() / "vms/c1/disk.qcow2");
  EXPECT_EQ(spec.mac, c1->mac);
  EXPECT_TRUE(fs::exists(dir_.path() / "vms/c1/seed.iso"));
  bool overlay = false;
  for (const std::vector<std::string>& argv : runner_.calls()) {
    if (argv.size() > 9 && argv[0] == "qemu-img" &&
        argv[9] == (dir_.path() / "vms/c1/disk.qcow2").string()) {
      overlay = true;
      EXPECT_EQ(argv[6], "qcow2");
      EXPECT_EQ(argv[8], fs::absolute(dir_.path() / "snapshots/s1/disk.qcow2").string());
    }
  }
  EXPECT_TRUE(overlay);

  // Its TAP down before the guest ran a single instruction, up only after the
  // agent re-identified it.
  // (The other TAP set down is the one of the QEMU that set the snapshot's
  // RAM apart, taken and released while the snapshot was written.)
  auto of_c1 = [&](std::vector<std::string> links) {
    std::erase_if(links, [&](const std::string& l) { return l.find(c1->tap) == std::string::npos; });
    return links;
  };
  EXPECT_EQ(guest_at_reidentify, (std::vector<std::string>{"load-apart", "resume"}));
  EXPECT_EQ(of_c1(links_at_reidentify), std::vector<std::string>{"down " + c1->tap});
  EXPECT_EQ(of_c1(taps_.links()), (std::vector<std::string>{"down " + c1->tap, "up " + c1->tap}));
  EXPECT_TRUE(taps_.held().size() == 2u) << "web's and c1's TAPs only";

  // Its RAM is the snapshot's, mapped private from a descriptor; the state it
  // loaded was saved without RAM by a QEMU whose RAM was the snapshot's file.
  EXPECT_EQ(spec.ram_file, kQemuRamFdPath);
  EXPECT_FALSE(spec.ram_shared);
  EXPECT_TRUE(fs::exists(dir_.path() / "snapshots/s1/ram"));
  int helpers = 0;
  for (const VmSpec& launched : hypervisor_.launches()) {
    if (launched.ram_file != dir_.path() / "snapshots/.tmp-s1/ram") continue;
    ++helpers;
    EXPECT_TRUE(launched.ram_shared);
    EXPECT_TRUE(launched.incoming);
    EXPECT_EQ(launched.disk, dir_.path() / "snapshots/.tmp-s1/ram-helper.qcow2");
  }
  EXPECT_EQ(helpers, 1);
  for (const char* gone : {"ram-helper.qcow2", "ram-helper.pid", "state.apart"})
    EXPECT_FALSE(fs::exists(dir_.path() / "snapshots/s1" / gone)) << gone;
  std::vector<FakeGuestAgents::Reidentified> ids = agents_.reidentified();
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0].socket.filename(), c1->id + ".agent");
  EXPECT_EQ(ids[0].identity.ip_cidr, c1->ip + "/24");
  EXPECT_EQ(ids[0].identity.gateway, "10.77.0.1");
  EXPECT_EQ(ids[0].identity.hostname, "c1");
  EXPECT_EQ(FormatMac(ids[0].identity.mac), c1->mac);
  EXPECT_EQ(ids[0].identity.random_seed_hex.size(), 64u);
  EXPECT_GT(ids[0].identity.unix_time_ns, int64_t{1'700'000'000} * 1'000'000'000);
  // The host key it got is the one pinned for it.
  const fs::path key_file = dir_.path() / "clone_key";
  std::ofstream(key_file) << ids[0].identity.host_key_private_openssh;
  fs::permissions(key_file, fs::perms::owner_read | fs::perms::owner_write);
  RunSpec keygen;
  keygen.argv = {"ssh-keygen", "-y", "-f", key_file.string()};
  Result<std::string> derived = RunAndCheck(real_, keygen);
  ASSERT_TRUE(derived.ok()) << derived.error().ToString();
  std::ifstream pinned(dir_.path() / "vms/c1/host_key.pub");
  std::string line;
  std::getline(pinned, line);
  // "ssh-ed25519 BASE64" of both (the comments differ).
  EXPECT_EQ(derived->substr(0, 80), line.substr(0, 80));

  // The snapshot stays while a clone needs its disk; a second clone gets
  // another address.
  ASSERT_EQ(CloneAndWait("c2", "s1").state, OpState::kSucceeded);
  EXPECT_NE(vms_->Get("c2")->ip, c1->ip);
  Status rm = vms_->DeleteSnapshot("s1");
  EXPECT_EQ(rm.code(), Code::kFailedPrecondition);
  EXPECT_NE(rm.message().find("c1, c2"), std::string::npos) << rm.ToString();

  // A snapshot of a clone depends on the clone's snapshot too.
  ASSERT_EQ(WaitOp(*vms_->SnapshotVM("c1", "of-c1", false)).state, OpState::kSucceeded);
  EXPECT_EQ(vms_->GetSnapshot("of-c1")->parent, "s1");
  ASSERT_TRUE(vms_->DeleteVM("c1", true).ok());
  ASSERT_TRUE(vms_->DeleteVM("c2", true).ok());
  rm = vms_->DeleteSnapshot("s1");
  EXPECT_EQ(rm.code(), Code::kFailedPrecondition);
  EXPECT_NE(rm.message().find("snapshot of-c1"), std::string::npos) << rm.ToString();
  ASSERT_TRUE(vms_->DeleteSnapshot("of-c1").ok());
  EXPECT_TRUE(vms_->DeleteSnapshot("s1").ok());
}

TEST_F(VmCloneTest, RefusalsComeBeforeAnythingIsReserved) {
  auto cap = std::make_unique<FirstBootCap>();
  caps_.Add(std::move(cap));
  agents_.answering = false;  // a guest without the agent
  SnapshotWeb("no-agent");
  EXPECT_FALSE(vms_->GetSnapshot("no-agent")->agent);
  agents_.answering = true;
  ASSERT_EQ(WaitOp(*vms_->SnapshotVM("web", "s1", false)).state, OpState::kSucceeded);
  EXPECT_TRUE(vms_->GetSnapshot("s1")->agent);
  const size_t launches = hypervisor_.launches().size();

  Result<std::string> r = vms_->CreateVM(Clone("c", "no-agent"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("did not answer warren's guest agent"), std::string::npos)
      << r.error().ToString();
  EXPECT_NE(r.error().message().find("warren vm restore web no-agent"), std::string::npos);

  EXPECT_EQ(vms_->CreateVM(Clone("c", "nope")).error().code(), Code::kNotFound);
  CreateRequest bigger = Clone("c", "s1");
  bigger.memory_mib = 1024;
  r = vms_->CreateVM(bigger);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("memory in MiB (256"), std::string::npos)
      << r.error().ToString();
  CreateRequest other_image = Clone("c", "s1");
  other_image.image = "other";
  EXPECT_EQ(vms_->CreateVM(other_image).error().code(), Code::kInvalidArgument);
  CreateRequest with_cap = Clone("c", "s1");
  with_cap.caps = {{"firstboot", true}};
  r = vms_->CreateVM(with_cap);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("capability \"firstboot\" acts when a guest boots"),
            std::string::npos)
      << r.error().ToString();

  EXPECT_EQ(vms_->List()->size(), 1u);  // web only
  EXPECT_FALSE(fs::exists(dir_.path() / "vms/c"));
  EXPECT_EQ(hypervisor_.launches().size(), launches);
  EXPECT_EQ(vms_->Memory().vms, 1u);
}

// A clone whose guest cannot be re-identified is rolled back whole: nothing
// of it is left, and its TAP never came up.
TEST_F(VmCloneTest, AFailedReidentifyRollsTheCloneBack) {
  SnapshotWeb("s1");
  agents_.answering = false;
  OpInfo op = CloneAndWait("c1", "s1");
  ASSERT_EQ(op.state, OpState::kFailed);
  EXPECT_NE(op.error.find("reach the guest agent of c1"), std::string::npos) << op.error;
  EXPECT_EQ(vms_->Get("c1").error().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(dir_.path() / "vms/c1"));
  EXPECT_EQ(hypervisor_.Alive().size(), 1u);  // web's
  EXPECT_EQ(vms_->Memory().vms, 1u);
  // The RAM helper's TAP and the clone's, both set down and released.
  ASSERT_EQ(taps_.links().size(), 2u);
  EXPECT_EQ(taps_.links()[1].rfind("down ", 0), 0u);
  EXPECT_EQ(taps_.held().size(), 1u);  // web's
  // The snapshot is free again.
  ASSERT_TRUE(vms_->DeleteVM("web", true).ok());
  EXPECT_TRUE(vms_->DeleteSnapshot("s1").ok());
}

// A snapshot whose RAM cannot be set apart (here: the helper QEMU does not
// start) is still taken, with the RAM in its state; its clones load it from
// there.
TEST_F(VmCloneTest, ASnapshotWhoseRamCannotBeSetApartKeepsItInItsState) {
  ASSERT_EQ(CreateAndWait("web").state, OpState::kSucceeded);
  hypervisor_.FailLaunch(Internal("injected launch failure"));
  ASSERT_EQ(WaitOp(*vms_->SnapshotVM("web", "s1", false)).state, OpState::kSucceeded);
  hypervisor_.FailLaunch(Status::Ok());
  EXPECT_FALSE(fs::exists(dir_.path() / "snapshots/s1/ram"));
  EXPECT_EQ(taps_.held().size(), 1u);  // web's: the helper's went back
  std::vector<std::string> guest;
  agents_.OnReidentify([&](const fs::path&) {
    guest = hypervisor_.guest_events(*hypervisor_.Alive().rbegin());
  });
  ASSERT_EQ(CloneAndWait("c1", "s1").state, OpState::kSucceeded);
  EXPECT_EQ(guest, (std::vector<std::string>{"load", "resume"}));
  EXPECT_TRUE(hypervisor_.launches().back().ram_file.empty());
}

}  // namespace
}  // namespace warren

// Snapshots and clones through the real daemon binary: real QEMU (TCG here)
// migrating to a file descriptor, the daemon's own network namespace, the
// default image. The suite shares one daemon; the crash test has its own.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>

#include "e2e/daemon_harness.h"
#include "sys/files.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class SnapshotE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new WarrenDaemon();
    Status st = daemon_->StartWithDefaultImage();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(daemon_, nullptr); }

  // Runs a shell line in the VM; its stdout, or the failure as text.
  static std::string Sh(const std::string& vm, const std::string& line) {
    Result<GuestConnection::ExecResult> r = daemon_->GuestExec(vm, {"sh", "-c", line});
    if (!r.ok()) return "exec failed: " + r.status().ToString();
    if (r->exit_code != 0) return "exit " + std::to_string(r->exit_code) + ": " + r->err;
    return r->out;
  }

  static WarrenDaemon* daemon_;
};
WarrenDaemon* SnapshotE2eTest::daemon_ = nullptr;

// A CLI run, whole, for failure messages.
std::string Show(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nout: " + r.out + "\nerr: " + r.err;
}

// Through the CLI, as a user would: snapshot, change things, restore, see them
// back; ls / inspect / rm; and the refusals with their messages.
TEST_F(SnapshotE2eTest, ProcessAndTmpFileSurviveSnapshotAndRestore) {
  WarrenDaemon& d = *daemon_;
  Result<json> vm = d.CreateVm("snappy");
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  // A process that lives only in RAM and a file in /tmp (tmpfs or disk: either way
  // it must come back with the snapshot).
  ASSERT_EQ(Sh("snappy",
               "setsid sleep 100000 </dev/null >/dev/null 2>&1 & echo $! >/tmp/sleeper.pid; "
               "echo before-snapshot >/tmp/marker; echo ok"),
            "ok\n");
  const std::string pid = Sh("snappy", "cat /tmp/sleeper.pid");
  // The snapshot's clock reads an hour ago: a restore must step it to now.
  ASSERT_EQ(Sh("snappy", "date -u -s @$(( $(date +%s) - 3600 )) >/dev/null && echo ok"), "ok\n");

  RunResult snap = d.Cli({"vm", "snapshot", "snappy", "s1"});
  ASSERT_EQ(snap.exit_code, 0) << Show(snap) << d.Log();
  EXPECT_TRUE(fs::exists(d.root() / "snapshots/s1/state"));
  EXPECT_TRUE(fs::exists(d.root() / "snapshots/s1/disk.qcow2"));
  // Written under a temporary name and renamed: nothing else is left beside it.
  std::vector<std::string> entries;
  for (const fs::directory_entry& e : fs::directory_iterator(d.root() / "snapshots"))
    entries.push_back(e.path().filename().string());
  EXPECT_EQ(entries, std::vector<std::string>{"s1"});
  // The guest resumed: it answers, and the same sleeper still runs.
  EXPECT_EQ(Sh("snappy", "kill -0 $(cat /tmp/sleeper.pid) && echo alive"), "alive\n");

  // Refusals, each naming what is wrong.
  RunResult dup = d.Cli({"vm", "snapshot", "snappy", "s1"});
  EXPECT_NE(dup.exit_code, 0);
  EXPECT_NE(dup.err.find("snapshot \"s1\" already exists"), std::string::npos) << Show(dup);
  RunResult no_vm = d.Cli({"vm", "snapshot", "ghost", "s2"});
  EXPECT_NE(no_vm.exit_code, 0);
  EXPECT_NE(no_vm.err.find("ghost"), std::string::npos) << Show(no_vm);
  RunResult bad_name = d.Cli({"vm", "snapshot", "snappy", "../escape"});
  EXPECT_NE(bad_name.exit_code, 0);
  EXPECT_NE(bad_name.err.find("snapshot name"), std::string::npos) << Show(bad_name);
  RunResult no_snap = d.Cli({"vm", "restore", "snappy", "nope"});
  EXPECT_NE(no_snap.exit_code, 0);
  EXPECT_NE(no_snap.err.find("nope"), std::string::npos) << Show(no_snap);
  RunResult inspect_none = d.Cli({"snapshot", "inspect", "nope"});
  EXPECT_NE(inspect_none.exit_code, 0);
  EXPECT_NE(inspect_none.err.find("nope"), std::string::npos) << Show(inspect_none);

  RunResult ls = d.Cli({"--json", "snapshot", "ls"});
  ASSERT_EQ(ls.exit_code, 0) << Show(ls);
  json list = json::parse(ls.out, nullptr, false);
  ASSERT_EQ(list["snapshots"].size(), 1u) << ls.out;
  EXPECT_EQ(list["snapshots"][0].value("vm", ""), "snappy");
  EXPECT_GT(list["snapshots"][0].value("size_bytes", int64_t{0}), 0);
  RunResult inspect = d.Cli({"snapshot", "inspect", "s1"});
  ASSERT_EQ(inspect.exit_code, 0) << Show(inspect);
  EXPECT_NE(inspect.out.find("snappy"), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("file state"), std::string::npos) << inspect.out;

  // The image under a snapshot's disk is not removed, not even with --force.
  Result<json> rm_image = d.Call("image.rm", {{"name", "default"}, {"force", true}});
  ASSERT_FALSE(rm_image.ok());
  EXPECT_NE(rm_image.status().message().find("snapshot s1"), std::string::npos)
      << rm_image.status().ToString();

  // Change both, then roll back.
  // Killed and reaped (init reaps it; a zombie would still answer kill -0).
  ASSERT_EQ(Sh("snappy",
               "p=$(cat /tmp/sleeper.pid); kill $p; rm /tmp/marker; sync; "
               "for i in $(seq 100); do kill -0 $p 2>/dev/null || { echo gone; exit; }; "
               "sleep 0.1; done; echo alive"),
            "gone\n");
  RunResult restored = d.Cli({"vm", "restore", "snappy", "s1"});
  ASSERT_EQ(restored.exit_code, 0) << Show(restored) << d.Log();
  EXPECT_NE(restored.out.find("snappy restored: running"), std::string::npos) << restored.out;
  EXPECT_EQ(Sh("snappy", "cat /tmp/marker"), "before-snapshot\n");
  // Stepped to the host's time by the guest agent (an hour off otherwise; the
  // margin is for the exec's own round trip under TCG).
  const int64_t host_now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::string guest_now = Sh("snappy", "date +%s");
  EXPECT_NEAR(std::stoll(guest_now), host_now, 30) << guest_now << d.Log();
  EXPECT_EQ(Sh("snappy", "cat /tmp/sleeper.pid"), pid);
  EXPECT_EQ(Sh("snappy", "kill -0 $(cat /tmp/sleeper.pid) && echo alive"), "alive\n");
  EXPECT_EQ(d.QemuPids().size(), 1u);

  // Gone with its files; the VM keeps running on its own disk.
  RunResult rm = d.Cli({"snapshot", "rm", "s1"});
  ASSERT_EQ(rm.exit_code, 0) << Show(rm);
  EXPECT_FALSE(fs::exists(d.root() / "snapshots/s1"));
  EXPECT_EQ(Sh("snappy", "echo still"), "still\n");

  // Only a running VM is snapshotted.
  ASSERT_EQ(d.Cli({"vm", "stop", "--force", "snappy"}).exit_code, 0);
  RunResult stopped = d.Cli({"vm", "snapshot", "snappy", "s3"});
  EXPECT_NE(stopped.exit_code, 0);
  EXPECT_NE(stopped.err.find("only a running VM can be snapshotted"), std::string::npos)
      << Show(stopped);
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "snappy"}, {"force", true}}).ok());
}

int64_t HostNowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Three clones of one snapshot, made at once, are three machines: their own
// address, MAC, hostname and host key (pinned: every exec checks it), each
// resolvable by name and reachable from the others, their clocks stepped to
// the host's; the parent keeps its own. The snapshot stays while they exist.
TEST_F(SnapshotE2eTest, ClonesMadeAtOnceAreDistinctMachinesThatReachEachOther) {
  WarrenDaemon& d = *daemon_;
  Result<json> parent = d.CreateVm("parent");
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  ASSERT_EQ(Sh("parent", "echo from-parent >/tmp/inherited; echo ok"), "ok\n");
  Result<json> snap = d.Call("vm.snapshot", {{"name", "parent"}, {"snapshot", "golden"}});
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  json op;
  ASSERT_TRUE(d.WaitOp(snap->value("op", ""), &op).ok()) << op.dump() << d.Log();
  EXPECT_EQ(op["result"].value("agent", false), true) << op.dump();

  const std::vector<std::string> clones = {"c1", "c2", "c3"};
  std::vector<std::string> ops;
  for (const std::string& c : clones) {
    Result<json> started = d.Call("vm.create", {{"name", c}, {"from", "golden"}});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    ops.push_back(started->value("op", ""));
  }
  // The snapshot's RAM is a file apart from its state (sparse: only the
  // pages the guest used), and its state is devices alone.
  const fs::path golden = d.root() / "snapshots/golden";
  EXPECT_TRUE(fs::exists(golden / "ram"));
  EXPECT_LT(fs::file_size(golden / "state"), 8u << 20);
  std::set<std::string> ips = {parent->value("ip", "")}, macs = {parent->value("mac", "")},
                        keys;
  for (size_t i = 0; i < clones.size(); ++i) {
    json done;
    ASSERT_TRUE(d.WaitOp(ops[i], &done).ok()) << done.dump() << d.Log();
    const json& vm = done["result"];
    EXPECT_EQ(vm.value("state", ""), "running") << vm.dump();
    EXPECT_EQ(vm.value("snapshot", ""), "golden") << vm.dump();
    ips.insert(vm.value("ip", ""));
    macs.insert(vm.value("mac", ""));
    Result<std::string> key = ReadFileToString(d.root() / "vms" / clones[i] / "host_key.pub");
    ASSERT_TRUE(key.ok());
    keys.insert(*key);
    // What the guest itself says, over SSH pinned to the clone's own key.
    const int64_t before = HostNowS();
    const std::string seen = Sh(clones[i],
                                "date +%s; hostname; cat /sys/class/net/eth0/address; "
                                "busybox ip -4 -o addr show dev eth0 | busybox awk '{print $4}'; "
                                "cat /tmp/inherited");
    const int64_t after = HostNowS();
    std::istringstream lines(seen);
    std::string now, hostname, mac, cidr, inherited;
    lines >> now >> hostname >> mac >> cidr >> inherited;
    ASSERT_FALSE(inherited.empty()) << seen;
    EXPECT_GE(std::stoll(now), before - 1) << seen;
    EXPECT_LE(std::stoll(now), after + 1) << seen;
    EXPECT_EQ(hostname, clones[i]);
    EXPECT_EQ(mac, vm.value("mac", ""));
    EXPECT_EQ(cidr, vm.value("ip", "") + "/24") << "one address only: " << seen;
    EXPECT_EQ(inherited, "from-parent");
  }
  // Each clone maps that RAM (one sealed memfd, shared) rather than a copy.
  for (const std::string& c : clones) {
    Result<std::string> pid = ReadFileToString(d.root() / "vms" / c / "qemu.pid");
    ASSERT_TRUE(pid.ok());
    Result<std::string> maps =
        ReadFileToString("/proc/" + std::to_string(std::stoi(*pid)) + "/maps");
    ASSERT_TRUE(maps.ok());
    EXPECT_NE(maps->find("/memfd:warren-snapshot-ram"), std::string::npos) << c;
  }
  EXPECT_EQ(ips.size(), 4u);
  EXPECT_EQ(macs.size(), 4u);
  EXPECT_EQ(keys.size(), 3u);
  // By name, through the daemon's DNS, each reaches the others and the parent,
  // and the parent answers as itself.
  for (const std::string& from : clones) {
    for (const std::string& to : {"c1", "c2", "c3", "parent"}) {
      if (from == to) continue;
      EXPECT_EQ(Sh(from, std::string("ping -c 1 -W 5 ") + to + " >/dev/null && echo up"), "up\n")
          << from << " -> " << to;
    }
  }
  EXPECT_EQ(Sh("parent", "hostname; busybox ip -4 -o addr show dev eth0 | busybox awk '{print $4}'"),
            "parent\n" + parent->value("ip", "") + "/24\n");

  // The snapshot backs their disks.
  RunResult rm = d.Cli({"snapshot", "rm", "golden"});
  EXPECT_NE(rm.exit_code, 0);
  EXPECT_NE(rm.err.find("backs the disk of VM c1, c2, c3"), std::string::npos) << Show(rm);
  for (const std::string& c : clones)
    ASSERT_TRUE(d.Call("vm.rm", {{"name", c}, {"force", true}}).ok());
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "parent"}, {"force", true}}).ok());
  rm = d.Cli({"snapshot", "rm", "golden"});
  EXPECT_EQ(rm.exit_code, 0) << Show(rm);
  EXPECT_TRUE(d.QemuPids().empty());
}

// The everyday fast path: `image snapshot` boots the image once and keeps a
// snapshot named after it (the VM it took is gone); `vm create --from` it.
TEST_F(SnapshotE2eTest, ImageSnapshotGivesTheFastPathInOneFlag) {
  WarrenDaemon& d = *daemon_;
  RunResult snap = d.Cli({"image", "snapshot", "default"});
  ASSERT_EQ(snap.exit_code, 0) << Show(snap) << d.Log();
  EXPECT_NE(snap.out.find("yes (vm create --from default)"), std::string::npos) << snap.out;
  Result<json> vms = d.Call("vm.list");
  ASSERT_TRUE(vms.ok());
  EXPECT_TRUE((*vms)["vms"].empty()) << vms->dump();
  RunResult again = d.Cli({"image", "snapshot", "default"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("snapshot \"default\" already exists"), std::string::npos)
      << Show(again);

  RunResult clone = d.Cli({"vm", "create", "fast", "--from", "default"});
  ASSERT_EQ(clone.exit_code, 0) << Show(clone) << d.Log();
  EXPECT_EQ(Sh("fast", "hostname"), "fast\n");
  RunResult bigger = d.Cli({"vm", "create", "big", "--from", "default", "--memory", "1024"});
  EXPECT_NE(bigger.exit_code, 0);
  EXPECT_NE(bigger.err.find("a clone has its snapshot's memory in MiB"), std::string::npos)
      << Show(bigger);
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "fast"}, {"force", true}}).ok());
  EXPECT_EQ(d.Cli({"snapshot", "rm", "default"}).exit_code, 0);
}

// What a restarted daemon shows after one that was SIGKILLed: the snapshots
// and VMs by name, and whether the keeper still answers.
struct AfterCrash {
  std::set<std::string> snapshots, vms;
  bool keeper_answers = false;
};
AfterCrash Look(WarrenDaemon& d) {
  AfterCrash a;
  Result<json> snaps = d.Call("snapshot.list");
  if (snaps.ok())
    for (const json& s : (*snaps)["snapshots"]) a.snapshots.insert(s.value("name", ""));
  Result<json> vms = d.Call("vm.list");
  if (vms.ok())
    for (const json& v : (*vms)["vms"]) a.vms.insert(v.value("name", ""));
  Result<GuestConnection::ExecResult> up = d.GuestExec("keeper", {"true"});
  a.keeper_answers = up.ok() && up->exit_code == 0;
  return a;
}

// A daemon SIGKILLed at each step of a snapshot (the guest still paused, the
// files in place, the RAM helper QEMU loading them, the record written) and of a clone's create leaves, once
// restarted, no partial snapshot, no clone, no stray QEMU or files; the VM
// snapshotted runs on (a guest left paused is resumed).
TEST(SnapshotCrashE2eTest, KillAtEachSnapshotAndCloneStepThenRestartLeavesNothing) {
  WarrenDaemon d;
  ASSERT_TRUE(d.StartWithDefaultImage().ok()) << d.Log();
  Result<json> keeper = d.CreateVm("keeper");
  ASSERT_TRUE(keeper.ok()) << keeper.status().ToString();
  auto restart_killing_at = [&](const std::string& step) {
    ASSERT_EQ(d.Stop(), 0) << d.Log();
    ASSERT_TRUE(d.Start({"WARREN_TEST_KILL_AT_STEP=" + step}).ok()) << d.Log();
  };
  auto restart_after_kill = [&] {
    EXPECT_EQ(d.WaitExit(), -SIGKILL) << d.Log();
    ASSERT_TRUE(d.Start().ok()) << d.Log();
  };

  for (const std::string step : {"snapshot-files", "snapshot-ram", "snapshot-published"}) {
    SCOPED_TRACE("killed at " + step);
    restart_killing_at(step);
    (void)d.Call("vm.snapshot", {{"name", "keeper"}, {"snapshot", "doomed"}});
    restart_after_kill();
    AfterCrash a = Look(d);
    EXPECT_TRUE(a.snapshots.empty());
    EXPECT_TRUE(fs::is_empty(d.root() / "snapshots"));
    EXPECT_EQ(a.vms, std::set<std::string>{"keeper"});
    EXPECT_TRUE(a.keeper_answers) << d.Log();
    EXPECT_EQ(d.QemuPids().size(), 1u);
  }
  // Killed once recorded: the snapshot is whole, and clones can be made of it.
  restart_killing_at("snapshot-recorded");
  (void)d.Call("vm.snapshot", {{"name", "keeper"}, {"snapshot", "kept"}});
  restart_after_kill();
  ASSERT_EQ(Look(d).snapshots, std::set<std::string>{"kept"});

  for (const std::string step : {"reserved", "disk", "seed", "tap", "launch"}) {
    SCOPED_TRACE("clone killed at " + step);
    restart_killing_at(step);
    (void)d.Call("vm.create", {{"name", "doomed"}, {"from", "kept"}});
    restart_after_kill();
    AfterCrash a = Look(d);
    EXPECT_EQ(a.vms, std::set<std::string>{"keeper"});
    EXPECT_TRUE(a.keeper_answers) << d.Log();
    EXPECT_FALSE(fs::exists(d.root() / "vms/doomed"));
    EXPECT_EQ(d.QemuPids().size(), 1u);
  }
  // Nothing holds the snapshot: a clone of it is made, then it is deleted.
  Result<json> clone = d.Call("vm.create", {{"name", "doomed"}, {"from", "kept"}});
  ASSERT_TRUE(clone.ok()) << clone.status().ToString();
  ASSERT_TRUE(d.WaitOp(clone->value("op", "")).ok()) << d.Log();
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "doomed"}, {"force", true}}).ok());
  EXPECT_TRUE(d.Call("snapshot.delete", {{"name", "kept"}}).ok());
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "keeper"}, {"force", true}}).ok());
  EXPECT_TRUE(d.QemuPids().empty());
}

}  // namespace
}  // namespace warren::e2e

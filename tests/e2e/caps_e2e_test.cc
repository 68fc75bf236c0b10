// VM capabilities through the real daemon and real guests (TCG, the daemon's
// own network namespace, the default image): a second SSH key logs in, a
// user-data script runs once and its exit status shows in vm.inspect, shared
// folders (virtiofs) round-trip files both ways and a :ro share refuses a
// guest write, across a restart, a daemon restart and a QEMU crash, and
// `vm rm` leaves no stored capability row, no virtiofsd and no socket.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "e2e/daemon_harness.h"
#include "image/ssh_key.h"
#include "net/netns.h"
#include "session/guest_socket.h"
#include "session/libssh_dialer.h"
#include "sys/files.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Rows left in vm_caps, read with the sqlite3 CLI (read-only, beside the daemon).
std::string CapRows(WarrenDaemon& d) {
  RealRunner runner;
  RunSpec spec;
  spec.argv = {"sqlite3", "-readonly", (d.root() / "state" / "warren.db").string(),
               "SELECT COUNT(*) FROM vm_caps"};
  Result<RunResult> r = runner.Run(spec);
  return r.ok() ? Trimmed(r->out) : r.error().ToString();
}

// Logs in with `private_key` (not the daemon's) and runs argv.
Result<GuestConnection::ExecResult> ExecAs(WarrenDaemon& d, const std::string& vm,
                                           const std::string& private_key,
                                           const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(json info, d.Call("vm.inspect", {{"name", vm}}));
  ASSIGN_OR_RETURN(std::string host_key, ReadFileToString(d.root() / "vms" / vm / "host_key.pub"));
  ASSIGN_OR_RETURN(NetnsHandle ns, NetnsHandle::Open(kDefaultNetnsDir, d.Netns()));
  LibsshDialer dialer(NetnsSocketFactory(ns));
  GuestEndpoint ep{info.value("ip", ""), 22, "root", Trimmed(host_key), private_key};
  ASSIGN_OR_RETURN(std::unique_ptr<GuestConnection> conn, dialer.Dial(ep, std::chrono::seconds(20)));
  return conn->Exec(argv, "", {});
}

// The sockets under `vm_dir` that live (not zombie) processes serve: a share's
// virtiofsd (once QEMU connects, it is two processes: it sandboxes itself in a
// pid namespace), or the unshare/sh steps before it.
std::set<std::string> VirtiofsdPids(const fs::path& vm_dir) {
  std::set<std::string> served;
  const std::string prefix = "--socket-path=" + vm_dir.string() + "/";
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string arg;
    while (std::getline(in, arg, '\0')) {
      if (arg.rfind(prefix, 0) == 0) {
        served.insert(arg);
        break;
      }
    }
  }
  return served;
}

// Sockets left in the VM's directory (vfs-TAG.sock).
int ShareSockets(const fs::path& vm_dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(vm_dir, ec)) {
    if (entry.path().filename().string().rfind("vfs-", 0) == 0) ++n;
  }
  return n;
}

// Both shares, through the guest: host → guest, guest → host (content
// checked), and the read-only one refuses a write even after the guest
// remounts it read-write. `round` keeps the file names of each call apart.
void CheckShares(WarrenDaemon& d, const fs::path& rw, const fs::path& ro, const std::string& round) {
  SCOPED_TRACE("shares, " + round);
  std::ofstream(rw / ("from-host-" + round)) << "host says hi " << round << "\n";
  Result<GuestConnection::ExecResult> seen =
      d.GuestExec("capvm", {"cat", "/mnt/rw/from-host-" + round});
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(seen->out, "host says hi " + round + "\n") << seen->err;
  Result<GuestConnection::ExecResult> wrote = d.GuestExec(
      "capvm", {"sh", "-c", "echo guest says hi " + round + " >/mnt/rw/from-guest-" + round});
  ASSERT_TRUE(wrote.ok());
  EXPECT_EQ(wrote->exit_code, 0) << wrote->err;
  Result<std::string> back = ReadFileToString(rw / ("from-guest-" + round));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, "guest says hi " + round + "\n");
  Result<GuestConnection::ExecResult> read_ro = d.GuestExec("capvm", {"cat", "/mnt/ro/readme"});
  ASSERT_TRUE(read_ro.ok());
  EXPECT_EQ(read_ro->out, "from the host, read-only\n") << read_ro->err;
  // Refused by the guest's ro mount first; then, remounted read-write by the
  // guest, by the host (virtiofsd's read-only bind mount): EROFS either way.
  Result<GuestConnection::ExecResult> write_ro = d.GuestExec(
      "capvm", {"sh", "-c",
                "echo x >/mnt/ro/nope && exit 10; busybox mount -o remount,rw /mnt/ro || exit 11; "
                "grep ' /mnt/ro ' /proc/mounts; echo x >/mnt/ro/nope"});
  ASSERT_TRUE(write_ro.ok());
  // 2: the shell's failed redirection, after the remount took (10, 11: it did not).
  EXPECT_EQ(write_ro->exit_code, 2) << write_ro->out << write_ro->err;
  EXPECT_NE(write_ro->out.find("/mnt/ro virtiofs rw"), std::string::npos) << write_ro->out;
  const std::string erofs = "cannot create /mnt/ro/nope: Read-only file system";
  const size_t first = write_ro->err.find(erofs);
  ASSERT_NE(first, std::string::npos) << write_ro->err;
  EXPECT_NE(write_ro->err.find(erofs, first + 1), std::string::npos)
      << "the write after the remount: " << write_ro->err;
  EXPECT_FALSE(fs::exists(ro / "nope"));
}

class CapsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new WarrenDaemon("[network]\ntap_pool_size = 1\n");
    Status st = daemon_->StartWithDefaultImage();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(daemon_, nullptr); }
  static WarrenDaemon* daemon_;
};
WarrenDaemon* CapsE2eTest::daemon_ = nullptr;

TEST_F(CapsE2eTest, KeyUserDataAndSharesWorkInTheGuestAndGoWithTheVm) {
  WarrenDaemon& d = *daemon_;
  Result<SshKeyPair> second = GenerateEd25519KeyPair("second@test");
  ASSERT_TRUE(second.ok());
  TempDir dir;
  // QEMU runs as vm.qemu_user: the shared folders must be open to it.
  const fs::path rw = dir.path() / "rw", ro = dir.path() / "ro";
  fs::create_directories(rw);
  fs::create_directories(ro);
  for (const fs::path& p : {dir.path(), rw, ro}) fs::permissions(p, fs::perms::all);
  std::ofstream(ro / "readme") << "from the host, read-only\n";

  json caps = {
      {"ssh_key", {second->public_key}},
      {"user_data", "#!/bin/sh\necho ran >>/root/user-data-ran\necho hello-from-user-data\nexit 7\n"},
      {"share", {rw.string() + ":/mnt/rw", ro.string() + ":/mnt/ro:ro"}},
  };
  Result<json> op = d.Call("vm.create", {{"name", "capvm"}, {"image", "default"},
                                         {"memory_mib", 384}, {"caps", caps}});
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  json done;
  Status created = d.WaitOp(op->value("op", ""), &done);
  ASSERT_TRUE(created.ok()) << created.ToString() << "\n" << d.Log();
  EXPECT_EQ(CapRows(d), "3");

  // The second key logs in; the daemon's own still does.
  Result<GuestConnection::ExecResult> as_second = ExecAs(d, "capvm", second->private_key, {"id", "-u"});
  ASSERT_TRUE(as_second.ok()) << as_second.status().ToString();
  EXPECT_EQ(Trimmed(as_second->out), "0");
  Result<SshKeyPair> stranger = GenerateEd25519KeyPair("stranger");
  ASSERT_TRUE(stranger.ok());
  EXPECT_FALSE(ExecAs(d, "capvm", stranger->private_key, {"true"}).ok());

  // The script ran once; its status and output are in vm.inspect.
  Result<json> info = d.Call("vm.inspect", {{"name", "capvm"}});
  ASSERT_TRUE(info.ok());
  const json ud = (*info)["caps"]["user_data"];
  EXPECT_EQ(ud.value("state", ""), "done") << info->dump(2);
  EXPECT_EQ(ud.value("exit_status", -1), 7) << info->dump(2);
  EXPECT_NE(ud.value("output", "").find("hello-from-user-data"), std::string::npos);
  EXPECT_EQ((*info)["caps"]["ssh_key"][0].value("comment", ""), "second@test");
  EXPECT_EQ((*info)["caps"]["share"].size(), 2u);

  // Shares, on the default image (Debian's cloud kernel: virtiofs, no 9p).
  const fs::path vm_dir = d.root() / "vms" / "capvm";
  CheckShares(d, rw, ro, "create");
  EXPECT_EQ(VirtiofsdPids(vm_dir).size(), 2u);

  // A restart does not run the script again; the shares come back.
  ASSERT_TRUE(d.Call("vm.restart", {{"name", "capvm"}}).ok());
  Result<GuestConnection::ExecResult> runs = d.GuestExec("capvm", {"cat", "/root/user-data-ran"});
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->out, "ran\n");
  CheckShares(d, rw, ro, "restart");
  EXPECT_EQ(VirtiofsdPids(vm_dir).size(), 2u);

  // A daemon restart adopts the running VM; its virtiofsds keep serving.
  ASSERT_EQ(d.Stop(), 0);
  Status restarted = d.Start();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  CheckShares(d, rw, ro, "adopted");

  // QEMU dies: its virtiofsds and their sockets go with it.
  Result<json> running = d.Call("vm.inspect", {{"name", "capvm"}});
  ASSERT_TRUE(running.ok());
  const pid_t qemu = running->value("pid", 0);
  ASSERT_GT(qemu, 0) << running->dump(2);
  ASSERT_EQ(::kill(qemu, SIGKILL), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((!VirtiofsdPids(vm_dir).empty() || ShareSockets(vm_dir) != 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(VirtiofsdPids(vm_dir).empty());
  EXPECT_EQ(ShareSockets(vm_dir), 0);

  // Started again, then removed: no virtiofsd and no socket are left.
  ASSERT_TRUE(d.Call("vm.start", {{"name", "capvm"}}).ok()) << d.Log();
  EXPECT_EQ(VirtiofsdPids(vm_dir).size(), 2u);
  EXPECT_EQ(ShareSockets(vm_dir), 2);
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "capvm"}, {"force", true}}).ok());
  EXPECT_EQ(CapRows(d), "0");
  EXPECT_FALSE(fs::exists(d.root() / "vms" / "capvm"));
  EXPECT_TRUE(VirtiofsdPids(vm_dir).empty());
}

TEST_F(CapsE2eTest, RefusedAtCreateWithNothingLeft) {
  WarrenDaemon& d = *daemon_;
  const std::string rows_before = CapRows(d);  // another test's VM may be left on failure
  TempDir dir;
  Result<json> missing = d.Call(
      "vm.create", {{"name", "nope"}, {"caps", {{"share", {(dir.path() / "gone").string() + ":/m"}}}}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("does not exist"), std::string::npos);
  Result<json> cloud = d.Call(
      "vm.create", {{"name", "nope"}, {"caps", {{"user_data", "#cloud-config\npackages: [curl]\n"}}}});
  ASSERT_FALSE(cloud.ok());
  EXPECT_NE(cloud.error().message().find("has no cloud-init"), std::string::npos);
  Result<json> unknown = d.Call("vm.create", {{"name", "nope"}, {"caps", {{"teleport", true}}}});
  ASSERT_FALSE(unknown.ok());
  Result<json> vms = d.Call("vm.list");
  ASSERT_TRUE(vms.ok());
  for (const json& vm : (*vms)["vms"]) EXPECT_NE(vm.value("name", ""), "nope");
  EXPECT_EQ(CapRows(d), rows_before);
}

}  // namespace
}  // namespace warren::e2e

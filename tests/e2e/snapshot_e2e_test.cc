// Snapshots through the real daemon binary: real QEMU (TCG here) migrating to
// a file descriptor, the daemon's own network namespace, the default image.
// One guest boot for the whole suite.
#include <gtest/gtest.h>

#include <filesystem>

#include "e2e/daemon_harness.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class SnapshotE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new WarrenDaemon();
    Status st = daemon_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    st = daemon_->BuildDefaultImage();
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

  Result<json> started = d.Call("vm.snapshot", {{"name", "snappy"}, {"snapshot", "s1"}});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  json op;
  ASSERT_TRUE(d.WaitOp(started->value("op", ""), &op).ok()) << d.Log();
  EXPECT_EQ(op["result"].value("name", ""), "s1");
  EXPECT_EQ(op["result"].value("vm", ""), "snappy");
  EXPECT_TRUE(fs::exists(d.root() / "snapshots/s1/state"));
  EXPECT_TRUE(fs::exists(d.root() / "snapshots/s1/disk.qcow2"));
  // The guest resumed: it answers, and the same sleeper still runs.
  EXPECT_EQ(Sh("snappy", "kill -0 $(cat /tmp/sleeper.pid) && echo alive"), "alive\n");

  // A second snapshot of the same name is refused; the list shows the first.
  Result<json> again = d.Call("vm.snapshot", {{"name", "snappy"}, {"snapshot", "s1"}});
  EXPECT_FALSE(again.ok());
  Result<json> list = d.Call("snapshot.list");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ((*list)["snapshots"].size(), 1u);
  EXPECT_GT((*list)["snapshots"][0].value("size_bytes", int64_t{0}), 0);

  // The image under a snapshot's disk is not removed, not even with --force.
  Result<json> rm_image = d.Call("image.rm", {{"name", "default"}, {"force", true}});
  ASSERT_FALSE(rm_image.ok());
  EXPECT_NE(rm_image.status().message().find("snapshot s1"), std::string::npos)
      << rm_image.status().ToString();

  // Change both, then roll back.
  ASSERT_EQ(Sh("snappy", "kill $(cat /tmp/sleeper.pid); rm /tmp/marker; sync; echo ok"), "ok\n");
  ASSERT_NE(Sh("snappy", "kill -0 " + pid + " 2>/dev/null && echo alive"), "alive\n");
  Result<json> restored = d.Call("vm.restore", {{"name", "snappy"}, {"snapshot", "s1"}});
  ASSERT_TRUE(restored.ok()) << restored.status().ToString() << d.Log();
  EXPECT_EQ(restored->value("state", ""), "running");
  EXPECT_EQ(Sh("snappy", "cat /tmp/marker"), "before-snapshot\n");
  EXPECT_EQ(Sh("snappy", "cat /tmp/sleeper.pid"), pid);
  EXPECT_EQ(Sh("snappy", "kill -0 $(cat /tmp/sleeper.pid) && echo alive"), "alive\n");
  EXPECT_EQ(d.QemuPids().size(), 1u);

  // Gone with its files; the VM keeps running on its own disk.
  Result<json> deleted = d.Call("snapshot.delete", {{"name", "s1"}});
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_FALSE(fs::exists(d.root() / "snapshots/s1"));
  EXPECT_EQ(Sh("snappy", "echo still"), "still\n");
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "snappy"}, {"force", true}}).ok());
}

}  // namespace
}  // namespace warren::e2e

// The real virtiofsd (QEMU 7.2's, as the daemon runs it), without a guest:
// it listens, a read-only share sees its folder read-only in its own mount
// namespace (the host's stays writable), Stop leaves no process and no
// socket, and a virtiofsd that cannot start fails naming the share.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "caps/virtiofsd.h"
#include "sys/files.h"
#include "sys/test_util.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

VirtiofsdSpec SpecIn(const fs::path& dir, bool ro) {
  VirtiofsdSpec spec;
  spec.tag = "warren0";
  spec.source = dir / "src";
  spec.ro = ro;
  spec.socket = dir / "vfs-warren0.sock";
  spec.pid_file = dir / "virtiofsd-warren0.pid";
  spec.log = dir / "virtiofsd-warren0.log";
  return spec;
}

pid_t PidOf(const VirtiofsdSpec& spec) {
  std::ifstream in(spec.pid_file);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

// The mount options of `path` as process `pid` sees it ("" when not a mount point there).
std::string MountOptions(pid_t pid, const fs::path& path) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/mountinfo");
  std::string line;
  std::string found;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point options ...
    std::istringstream f(line);
    std::string id, parent, dev, root, point, opts;
    f >> id >> parent >> dev >> root >> point >> opts;
    if (point == path.string()) found = opts;  // the last one is on top
  }
  return found;
}

class VirtiofsdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !fs::exists(kVirtiofsdBinary)) {
      GTEST_SKIP() << "needs root and " << kVirtiofsdBinary << " (qemu-system-common)";
    }
    fs::create_directories(dir_.path() / "src");
  }
  TempDir dir_;
  VirtiofsdServers servers_;
};

TEST_F(VirtiofsdTest, ReadOnlyShareIsReadOnlyForVirtiofsdAndStopLeavesNothing) {
  VirtiofsdSpec spec = SpecIn(dir_.path(), /*ro=*/true);
  Status st = servers_.Start(spec);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(fs::exists(spec.socket));
  pid_t pid = PidOf(spec);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(::kill(pid, 0), 0);
  // virtiofsd's own view of the folder is a read-only mount; the host's is not one.
  std::string opts = MountOptions(pid, spec.source);
  EXPECT_EQ(opts.rfind("ro", 0), 0u) << "virtiofsd sees " << spec.source << " as: " << opts;
  EXPECT_EQ(MountOptions(::getpid(), spec.source), "");

  servers_.Stop(spec);
  EXPECT_NE(::kill(pid, 0), 0) << "virtiofsd pid " << pid << " survived Stop";
  EXPECT_FALSE(fs::exists(spec.socket));
  EXPECT_FALSE(fs::exists(spec.pid_file));
  servers_.Stop(spec);  // idempotent
}

TEST_F(VirtiofsdTest, ReadWriteShareSeesTheHostsMountAndAStaleOneIsReplaced) {
  VirtiofsdSpec spec = SpecIn(dir_.path(), /*ro=*/false);
  ASSERT_TRUE(servers_.Start(spec).ok());
  pid_t first = PidOf(spec);
  EXPECT_EQ(MountOptions(first, spec.source), "");
  // A second start (a boot after a crash) replaces the first one.
  Status st = servers_.Start(spec);
  ASSERT_TRUE(st.ok()) << st.ToString();
  pid_t second = PidOf(spec);
  EXPECT_NE(first, second);
  EXPECT_NE(::kill(first, 0), 0);
  EXPECT_EQ(::kill(second, 0), 0);
  servers_.Stop(spec);
  EXPECT_NE(::kill(second, 0), 0);
}

TEST_F(VirtiofsdTest, AVirtiofsdThatCannotStartFailsNamingTheShare) {
  VirtiofsdSpec spec = SpecIn(dir_.path(), /*ro=*/false);
  spec.source = dir_.path() / "gone";
  Status st = servers_.Start(spec);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.ToString().find("share warren0"), std::string::npos) << st.ToString();
  EXPECT_FALSE(fs::exists(spec.pid_file));
}

}  // namespace
}  // namespace warren

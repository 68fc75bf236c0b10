#include "sys/layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "sys/test_util.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

mode_t ModeOf(const fs::path& p) {
  struct stat st;
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(LayoutTest, ForRootPutsEverythingUnderRoot) {
  Layout l = Layout::ForRoot("/srv/w");
  EXPECT_EQ(l.root, "/srv/w");
  EXPECT_EQ(l.config_file, "/srv/w/config.toml");
  EXPECT_EQ(l.state_dir, "/srv/w/state");
  EXPECT_EQ(l.db_file, "/srv/w/state/warren.db");
  EXPECT_EQ(l.run_dir, "/srv/w/run");
  EXPECT_EQ(l.socket, "/srv/w/run/warren.sock");
  EXPECT_EQ(l.pid_file, "/srv/w/run/warren.pid");
  EXPECT_EQ(l.log_dir, "/srv/w/log");
  EXPECT_EQ(l.log_file, "/srv/w/log/warrend.log");
  EXPECT_EQ(l.images_dir, "/srv/w/images");
  EXPECT_EQ(l.vms_dir, "/srv/w/vms");
  EXPECT_EQ(l.cache_dir, "/srv/w/cache");
  EXPECT_EQ(Layout::ForRoot("/srv/w/").root, "/srv/w");
}

TEST(LayoutTest, RelativeRootBecomesAbsolute) {
  Layout l = Layout::ForRoot("some/root");
  EXPECT_TRUE(l.root.is_absolute());
  EXPECT_EQ(l.root, fs::current_path() / "some/root");
  EXPECT_TRUE(l.socket.is_absolute());
}

TEST(LayoutTest, SystemLayout) {
  Layout l = Layout::System();
  EXPECT_TRUE(l.root.empty());
  EXPECT_EQ(l.config_file, "/etc/warren/config.toml");
  EXPECT_EQ(l.db_file, "/var/lib/warren/warren.db");
  EXPECT_EQ(l.images_dir, "/var/lib/warren/images");
  EXPECT_EQ(l.vms_dir, "/var/lib/warren/vms");
  EXPECT_EQ(l.cache_dir, "/var/lib/warren/cache");
  EXPECT_EQ(l.socket, "/run/warren/warren.sock");
  EXPECT_EQ(l.pid_file, "/run/warren/warren.pid");
  EXPECT_EQ(l.log_file, "/var/log/warren/warrend.log");
}

TEST(LayoutTest, ResolvePrefersFlagThenEnvThenSystem) {
  ASSERT_EQ(setenv("WARREN_ROOT", "/from/env", 1), 0);
  EXPECT_EQ(Layout::Resolve("/from/flag").root, "/from/flag");
  EXPECT_EQ(Layout::Resolve("").root, "/from/env");
  ASSERT_EQ(unsetenv("WARREN_ROOT"), 0);
  EXPECT_TRUE(Layout::Resolve("").root.empty());
  EXPECT_EQ(Layout::Resolve("").socket, "/run/warren/warren.sock");
}

TEST(LayoutTest, EnsureCreatesDirectoriesWithModes) {
  TempDir tmp;
  Layout l = Layout::ForRoot(tmp.path() / "root");
  ASSERT_TRUE(l.Ensure().ok());
  for (const fs::path& d : {l.root, l.run_dir, l.log_dir, l.images_dir, l.vms_dir, l.cache_dir}) {
    EXPECT_TRUE(fs::is_directory(d)) << d;
    EXPECT_EQ(ModeOf(d), 0755u) << d;
  }
  EXPECT_EQ(ModeOf(l.state_dir), 0700u);
  // Idempotent, and tightens a state dir someone loosened.
  ASSERT_EQ(::chmod(l.state_dir.c_str(), 0777), 0);
  ASSERT_TRUE(l.Ensure().ok());
  EXPECT_EQ(ModeOf(l.state_dir), 0700u);
}

TEST(LayoutTest, EnsureNamesPathWhenBlocked) {
  TempDir tmp;
  Layout l = Layout::ForRoot(tmp.path());
  std::ofstream(tmp.path() / "vms") << "not a dir";
  Status st = l.Ensure();
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr((tmp.path() / "vms").string()));
}

TEST(LayoutTest, EnsureRejectsOverlongSocketPath) {
  TempDir tmp;
  Layout l = Layout::ForRoot(tmp.path() / std::string(120, 'x'));
  Status st = l.Ensure();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("warren.sock"));
}

}  // namespace
}  // namespace warren

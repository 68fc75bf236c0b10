// The composition root in-process, with fake seams.
#include "daemon/daemon.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fakes/fake_daemon_deps.h"
#include "rpc/client.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

DaemonDeps FakeDeps(KvmState kvm = KvmState::kPvm) {
  FakeDaemonDeps fakes(kvm);
  return std::move(fakes.deps);
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-daemon-XXXXXX";
    layout_ = Layout::ForRoot(mkdtemp(tmpl));
    // The web UI on a port of the kernel's choice (tests run side by side).
    fs::create_directories(layout_.config_file.parent_path());
    std::ofstream(layout_.config_file) << "[web]\nlisten = \"127.0.0.1:0\"\n";
  }
  void TearDown() override { fs::remove_all(layout_.root); }

  Layout layout_;
};

TEST_F(DaemonTest, OpenServeCloseLeavesNothingBehind) {
  Result<std::unique_ptr<Daemon>> d = Daemon::Open(layout_, FakeDeps());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  std::thread serve([&] { EXPECT_TRUE((*d)->Serve().ok()); });

  Result<std::unique_ptr<rpc::Client>> client = rpc::Client::Connect(layout_.socket);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Result<nlohmann::json> status = (*client)->Call("daemon.status", nlohmann::json::object());
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ((*status)["pid"], getpid());
  EXPECT_EQ((*status)["accelerator"], "tcg");  // kvm_pvm → TCG
  EXPECT_EQ((*status)["root"], layout_.root.string());
  EXPECT_TRUE(fs::exists(layout_.pid_file));
  EXPECT_EQ(fs::status(layout_.socket).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                fs::perms::group_write);

  EXPECT_TRUE((*d)->Close().ok());
  serve.join();
  EXPECT_FALSE(fs::exists(layout_.socket));
  EXPECT_FALSE(fs::exists(layout_.pid_file));
  EXPECT_TRUE(fs::exists(layout_.db_file));
  // A second Close is a no-op.
  EXPECT_TRUE((*d)->Close().ok());
}

TEST_F(DaemonTest, UsableKvmIsChosen) {
  Result<std::unique_ptr<Daemon>> d = Daemon::Open(layout_, FakeDeps(KvmState::kUsable));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  std::thread serve([&] { (void)(*d)->Serve(); });
  auto client = rpc::Client::Connect(layout_.socket);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*(*client)->Call("daemon.status", nlohmann::json::object()))["accelerator"], "kvm");
  (void)(*d)->Close();
  serve.join();
}

TEST_F(DaemonTest, SecondOpenOnSameRootIsRefused) {
  Result<std::unique_ptr<Daemon>> first = Daemon::Open(layout_, FakeDeps());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<std::unique_ptr<Daemon>> second = Daemon::Open(layout_, FakeDeps());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(second.error().message().find("pid"), std::string::npos);
  // The refused open did not touch the first daemon's socket.
  EXPECT_TRUE(fs::exists(layout_.socket));
  (void)(*first)->Close();
}

TEST_F(DaemonTest, BadConfigIsRefusedBeforeAnythingIsServed) {
  ASSERT_TRUE(layout_.Ensure().ok());
  std::ofstream(layout_.config_file) << "[rpc]\nmax_connections = 0\n";
  Result<std::unique_ptr<Daemon>> d = Daemon::Open(layout_, FakeDeps());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message().find("rpc.max_connections"), std::string::npos)
      << d.error().message();
  EXPECT_FALSE(fs::exists(layout_.socket));
  EXPECT_FALSE(fs::exists(layout_.pid_file));
}

TEST_F(DaemonTest, ForcedKvmOnUnusableHostIsRefused) {
  ASSERT_TRUE(layout_.Ensure().ok());
  std::ofstream(layout_.config_file) << "[vm]\naccelerator = \"kvm\"\n";
  Result<std::unique_ptr<Daemon>> d = Daemon::Open(layout_, FakeDeps(KvmState::kPvm));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code(), Code::kFailedPrecondition) << d.error().ToString();
}

}  // namespace
}  // namespace warren

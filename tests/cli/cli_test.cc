// Process-level tests: the real `warren` binary, a real daemon on a temp root.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sys/runner.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-cli-XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    StopDaemon(SIGTERM);
    fs::remove_all(root_);
  }

  RunResult Warren(std::vector<std::string> args, std::string stdin_data = "") {
    RunSpec spec;
    spec.argv = {WARREN_BINARY};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = {"WARREN_ROOT=" + root_.string()};
    spec.stdin_data = std::move(stdin_data);
    spec.timeout = std::chrono::seconds(60);
    Result<RunResult> r = runner_.Run(spec);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RunResult{};
  }

  // Starts `warren daemon` on root_ and waits for its socket.
  void StartDaemon() {
    daemon_pid_ = fork();
    ASSERT_GE(daemon_pid_, 0);
    if (daemon_pid_ == 0) {
      std::string log = (root_ / "daemon.stderr").string();
      FILE* f = freopen(log.c_str(), "a", stderr);
      (void)f;
      execl(WARREN_BINARY, "warren", "--root", root_.c_str(), "daemon", nullptr);
      _exit(127);
    }
    for (int i = 0; i < 200 && !fs::exists(root_ / "run/warren.sock"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ASSERT_TRUE(fs::exists(root_ / "run/warren.sock")) << DaemonLog();
  }

  int StopDaemon(int sig) {
    if (daemon_pid_ <= 0) return -1;
    kill(daemon_pid_, sig);
    int status = 0;
    waitpid(daemon_pid_, &status, 0);
    daemon_pid_ = -1;
    return status;
  }

  std::string DaemonLog() {
    std::ifstream in(root_ / "daemon.stderr");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  RealRunner runner_;
  fs::path root_;
  pid_t daemon_pid_ = -1;
};

TEST_F(CliTest, UnreachableDaemonExits3) {
  RunResult r = Warren({"status"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("warren daemon"), std::string::npos) << r.err;
}

TEST_F(CliTest, UsageErrorsExit2) {
  EXPECT_EQ(Warren({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(Warren({}).exit_code, 2);
  EXPECT_EQ(Warren({"op", "wait"}).exit_code, 2);  // missing ID
}

TEST_F(CliTest, HelpIsCompleteAndExits0) {
  RunResult r = Warren({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* cmd : {"daemon", "status", "doctor", "op", "--root", "--socket", "--json"}) {
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd << " missing from\n" << r.out;
  }
  RunResult op = Warren({"op", "--help"});
  EXPECT_EQ(op.exit_code, 0);
  for (const char* sub : {"ls", "show", "wait", "cancel"}) {
    EXPECT_NE(op.out.find(sub), std::string::npos) << sub;
  }
}

TEST_F(CliTest, StatusWithGlobalOptionsBeforeOrAfter) {
  StartDaemon();
  RunResult before = Warren({"--json", "status"});
  RunResult after = Warren({"status", "--json"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  ASSERT_EQ(after.exit_code, 0) << after.err;
  auto doc = nlohmann::json::parse(after.out);
  EXPECT_EQ(doc["version"], WARREN_VERSION);
  EXPECT_EQ(doc["root"], root_.string());
  EXPECT_EQ(doc["pid"], daemon_pid_);
  EXPECT_TRUE(doc["accelerator"] == "tcg" || doc["accelerator"] == "kvm");
  EXPECT_TRUE(doc["counts"].contains("ops"));

  RunResult human = Warren({"status"});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("uptime"), std::string::npos);

  // --socket points a client at the daemon without --root.
  RunSpec spec;
  spec.argv = {WARREN_BINARY, "status", "--json", "--socket", (root_ / "run/warren.sock").string()};
  spec.env = {"WARREN_ROOT=/nonexistent"};
  Result<RunResult> r = runner_.Run(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->err;
}

TEST_F(CliTest, SecondDaemonOnSameRootIsRefusedNamingThePid) {
  StartDaemon();
  RunResult second = Warren({"daemon"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("pid " + std::to_string(daemon_pid_)), std::string::npos) << second.err;
  // The first daemon is undisturbed.
  EXPECT_EQ(Warren({"status"}).exit_code, 0);
}

TEST_F(CliTest, SigtermLeavesNoSocketOrPidFile) {
  StartDaemon();
  int status = StopDaemon(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status)) << DaemonLog();
  EXPECT_EQ(WEXITSTATUS(status), 0) << DaemonLog();
  EXPECT_FALSE(fs::exists(root_ / "run/warren.sock"));
  EXPECT_FALSE(fs::exists(root_ / "run/warren.pid"));
}

TEST_F(CliTest, RestartAfterSigkillNeedsNoManualStep) {
  StartDaemon();
  StopDaemon(SIGKILL);
  EXPECT_TRUE(fs::exists(root_ / "run/warren.pid"));  // stale, left by the crash
  StartDaemon();
  RunResult r = Warren({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << DaemonLog();
  EXPECT_EQ(nlohmann::json::parse(r.out)["pid"], daemon_pid_);
}

TEST_F(CliTest, BadConfigRefusesToStartNamingTheKey) {
  fs::create_directories(root_);
  std::ofstream(root_ / "config.toml") << "[network]\nmode = \"bridged\"\n";
  RunResult r = Warren({"daemon"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("network.mode"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(root_ / "run/warren.sock"));
}

TEST_F(CliTest, OpCommandsAgainstEmptyRegistry) {
  StartDaemon();
  RunResult ls = Warren({"op", "ls", "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_TRUE(nlohmann::json::parse(ls.out)["ops"].is_array());
  RunResult wait = Warren({"op", "wait", "op-nope"});
  EXPECT_EQ(wait.exit_code, 1);
  EXPECT_NE(wait.err.find("op-nope"), std::string::npos) << wait.err;
}

TEST_F(CliTest, DoctorReportsEveryCheck) {
  RunResult without = Warren({"doctor", "--json"});
  auto doc = nlohmann::json::parse(without.out);
  std::set<std::string> names;
  for (const auto& c : doc["checks"]) names.insert(c["check"]);
  for (const char* n : {"kvm", "tun", "cap_net_admin", "netns", "qemu-system-x86_64", "qemu-img",
                        "mkfs.ext4", "mmdebstrap", "disk", "config", "store", "daemon"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
  StartDaemon();
  RunResult with = Warren({"doctor"});
  EXPECT_NE(with.out.find("reachable, version " WARREN_VERSION), std::string::npos) << with.out;
  EXPECT_NE(with.out.find("integrity ok"), std::string::npos) << with.out;
}

}  // namespace
}  // namespace warren

// Process-level tests: the real `warren` binary, a real daemon on a temp root.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sys/runner.h"
#include "sys/test_util.h"

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
    const pid_t test_pid = getpid();
    daemon_pid_ = fork();
    ASSERT_GE(daemon_pid_, 0);
    if (daemon_pid_ == 0) {
      // Dies with the test; never holds ctest's output pipes.
      DieWithParentForTest(test_pid);
      std::string log = (root_ / "daemon.stderr").string();
      if (freopen(log.c_str(), "a", stderr) == nullptr ||
          freopen(log.c_str(), "a", stdout) == nullptr ||
          freopen("/dev/null", "r", stdin) == nullptr) {
        _exit(126);
      }
      execl(WARREN_BINARY, "warren", "--root", root_.c_str(), "daemon", nullptr);
      _exit(127);
    }
    // Connectable, not merely present: a SIGKILLed daemon leaves its socket file.
    ASSERT_TRUE(PollUntil([&] { return SocketAccepts(); }, std::chrono::seconds(30)))
        << "the daemon did not listen within 30 s:\n" << DaemonLog();
  }

  bool SocketAccepts() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = (root_ / "run/warren.sock").string();
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return ok;
  }

  int StopDaemon(int sig) {
    if (daemon_pid_ <= 0) return -1;
    kill(daemon_pid_, sig);
    int status = 0;
    if (!WaitPidFor(daemon_pid_, &status, std::chrono::seconds(60))) {
      ADD_FAILURE() << "the daemon did not exit within 60 s of signal " << sig << ":\n"
                    << DaemonLog();
      kill(daemon_pid_, SIGKILL);
      waitpid(daemon_pid_, &status, 0);
    }
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

TEST_F(CliTest, ImageLsJsonOnEmptyRegistry) {
  StartDaemon();
  RunResult ls = Warren({"image", "ls", "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  auto doc = nlohmann::json::parse(ls.out);
  ASSERT_TRUE(doc["images"].is_array());
  EXPECT_TRUE(doc["images"].empty());
  RunResult cache = Warren({"image", "cache", "ls", "--json"});
  ASSERT_EQ(cache.exit_code, 0) << cache.err;
  EXPECT_TRUE(nlohmann::json::parse(cache.out)["entries"].is_array());
  RunResult inspect = Warren({"image", "inspect", "nope"});
  EXPECT_EQ(inspect.exit_code, 1);
  EXPECT_NE(inspect.err.find("image \"nope\" is not registered"), std::string::npos) << inspect.err;
  RunResult bad_name = Warren({"image", "build", "Bad_Name"});
  EXPECT_EQ(bad_name.exit_code, 2);
  EXPECT_NE(bad_name.err.find("a-z, 0-9 and '-'"), std::string::npos) << bad_name.err;
}

TEST_F(CliTest, ImageRegisterOfBadFilesExits2NamingTheFile) {
  StartDaemon();
  fs::path kernel = root_ / "zeros";
  std::ofstream(kernel).close();
  fs::resize_file(kernel, 2 << 20);  // right size, no kernel magic
  RunResult r = Warren({"image", "register", "x", "--kernel", kernel.string(), "--rootfs",
                        (root_ / "missing.ext4").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("kernel " + kernel.string() + ": not a Linux kernel"), std::string::npos)
      << r.err;
  // A good kernel moves the complaint to the rootfs.
  {
    std::fstream f(kernel, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0x202);
    f.write("HdrS", 4);
  }
  r = Warren({"image", "register", "x", "--kernel", kernel.string(), "--rootfs",
              (root_ / "missing.ext4").string(), "--json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("rootfs " + (root_ / "missing.ext4").string() + ": no such file"),
            std::string::npos)
      << r.err;
  RunResult ls = Warren({"image", "ls", "--json"});
  EXPECT_TRUE(nlohmann::json::parse(ls.out)["images"].empty());
  // Missing required flags are usage errors.
  EXPECT_EQ(Warren({"image", "register", "x", "--kernel", kernel.string()}).exit_code, 2);
}

TEST_F(CliTest, ImageHelpListsEverySubcommand) {
  RunResult r = Warren({"image", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* sub : {"build", "register", "ls", "inspect", "rm", "cache"}) {
    EXPECT_NE(r.out.find(sub), std::string::npos) << sub << " missing from\n" << r.out;
  }
  RunResult build = Warren({"image", "build", "--help"});
  for (const char* flag : {"--recipe", "--detach", "--verbose"}) {
    EXPECT_NE(build.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace warren

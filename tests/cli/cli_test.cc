// Process-level tests: the real `warren` binary, a real daemon on a temp root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
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

  // Starts `warren daemon` on root_ (with `env` added) and, if `wait`, waits for its socket.
  void StartDaemon(const std::vector<std::string>& env = {}, bool wait = true) {
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
      for (const std::string& kv : env) putenv(const_cast<char*>(kv.c_str()));
      execl(WARREN_BINARY, "warren", "--root", root_.c_str(), "daemon", nullptr);
      _exit(127);
    }
    if (!wait) return;
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

TEST_F(CliTest, DefaultConfigIsAFileTheDaemonStartsWith) {
  RunResult r = Warren({"default-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* line : {"[rpc]\n", "\nsocket_group = \"\"\n", "[images]\n"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << " missing from\n" << r.out;
  }
  fs::create_directories(root_);
  std::ofstream(root_ / "config.toml") << r.out;
  StartDaemon();
  EXPECT_EQ(Warren({"status"}).exit_code, 0);
}

// warren.service is Type=notify: READY=1 must reach systemd's socket, and only
// once clients can connect; STOPPING=1 when SIGTERM starts the shutdown.
TEST_F(CliTest, DaemonNotifiesReadyOnceItsSocketListens) {
  const std::string notify_path = (root_ / "notify").string();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  notify_path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  auto receive = [fd](std::chrono::seconds deadline) -> std::string {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(deadline.count() * 1000)) != 1) return "";
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  };
  StartDaemon({"NOTIFY_SOCKET=" + notify_path}, /*wait=*/false);
  std::string ready = receive(std::chrono::seconds(30));
  const bool accepts = SocketAccepts();  // right at READY=1, before anything else
  EXPECT_NE(ready.find("READY=1"), std::string::npos) << "got '" << ready << "'\n" << DaemonLog();
  EXPECT_NE(ready.find("MAINPID=" + std::to_string(daemon_pid_)), std::string::npos) << ready;
  EXPECT_TRUE(accepts) << "READY=1 came before the socket listened";
  kill(daemon_pid_, SIGTERM);
  std::string stopping = receive(std::chrono::seconds(30));
  EXPECT_NE(stopping.find("STOPPING=1"), std::string::npos) << "got '" << stopping << "'";
  EXPECT_EQ(StopDaemon(SIGTERM), 0);
  close(fd);
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

namespace warren {
namespace {

// `warren events` as a child whose stdout the test reads; SIGINT ends it.
class EventsProcess {
 public:
  EventsProcess(const fs::path& root, std::vector<std::string> extra) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    const pid_t test_pid = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      DieWithParentForTest(test_pid);
      dup2(fds[1], 1);
      std::vector<std::string> args = {WARREN_BINARY, "--root", root.string(), "events"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(WARREN_BINARY, argv.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~EventsProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  // Reads until `want` appears in the output or `timeout` passes.
  bool WaitFor(const std::string& want, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out_.find(want) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) return false;
      out_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // SIGINT, then its exit status (-1 if it did not exit within 30 s).
  int Interrupt() {
    kill(pid_, SIGINT);
    int status = 0;
    bool exited = WaitPidFor(pid_, &status, std::chrono::seconds(30));
    if (!exited) return -1;
    pid_ = -1;
    return status;
  }
  const std::string& out() const { return out_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string out_;
};

class CliEventsTest : public CliTest {
 protected:
  // A file that passes as a kernel and one that passes as an ext4 rootfs.
  void MakeImageFiles() {
    kernel_ = root_ / "vmlinuz";
    rootfs_ = root_ / "rootfs.ext4";
    for (const fs::path& p : {kernel_, rootfs_}) {
      std::ofstream(p).close();
      fs::resize_file(p, 8 << 20);
    }
    std::fstream k(kernel_, std::ios::in | std::ios::out | std::ios::binary);
    k.seekp(0x202);
    k.write("HdrS", 4);
    std::fstream r(rootfs_, std::ios::in | std::ios::out | std::ios::binary);
    r.seekp(1080);
    r.write("\x53\xef", 2);
  }
  RunResult Register(const std::string& name) {
    return Warren(
        {"image", "register", name, "--kernel", kernel_.string(), "--rootfs", rootfs_.string()});
  }
  fs::path kernel_, rootfs_;
};

TEST_F(CliEventsTest, JsonLinesThenCtrlCExitsZero) {
  StartDaemon();
  MakeImageFiles();
  EventsProcess events(root_, {"--json", "--kind", "image"});
  ASSERT_TRUE(events.WaitFor("\"subscribed\"", std::chrono::seconds(30))) << events.out();
  RunResult reg = Register("img1");
  ASSERT_EQ(reg.exit_code, 0) << reg.err;
  ASSERT_TRUE(events.WaitFor("\"img1\"", std::chrono::seconds(30))) << events.out();
  EXPECT_EQ(events.Interrupt(), 0) << events.out();
  // One JSON object per line: meta/subscribed, then image/created with inspect's data.
  std::vector<nlohmann::json> lines;
  size_t start = 0;
  for (size_t nl; (nl = events.out().find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(nlohmann::json::parse(events.out().substr(start, nl - start)));
  }
  ASSERT_EQ(lines.size(), 2u) << events.out();
  EXPECT_EQ(lines[0]["action"], "subscribed");
  EXPECT_EQ(lines[1]["kind"], "image");
  EXPECT_EQ(lines[1]["action"], "created");
  EXPECT_EQ(lines[1]["target"], "img1");
  EXPECT_EQ(lines[1]["data"]["name"], "img1");
  EXPECT_GT(lines[1]["seq"].get<uint64_t>(), 0u);
}

TEST_F(CliEventsTest, TextLinesLikeDockerEvents) {
  StartDaemon();
  MakeImageFiles();
  EventsProcess events(root_, {});
  // Text mode prints nothing until a change: make changes until one shows.
  bool seen = false;
  for (int i = 0; i < 20 && !seen; ++i) {
    ASSERT_EQ(Register("img2").exit_code, 0);
    seen = events.WaitFor(" image created img2", std::chrono::milliseconds(500));
    ASSERT_EQ(Warren({"image", "rm", "img2"}).exit_code, 0);
  }
  ASSERT_TRUE(seen) << events.out();
  ASSERT_TRUE(events.WaitFor(" image deleted img2\n", std::chrono::seconds(30))) << events.out();
  EXPECT_EQ(events.Interrupt(), 0) << events.out();
  // "2026-11-28T23:59:01Z image created img2"
  size_t at = events.out().find(" image created img2");
  ASSERT_GE(at, 20u);
  std::string stamp = events.out().substr(at - 20, 20);
  EXPECT_EQ(stamp.size(), 20u);
  EXPECT_EQ(stamp[4], '-');
  EXPECT_EQ(stamp[10], 'T');
  EXPECT_EQ(stamp[19], 'Z') << stamp;
}

}  // namespace
}  // namespace warren

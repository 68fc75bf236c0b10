// The real daemon binary builds the default image through the registry:
// `warren image build default`, then `image ls` / `image inspect` show it with
// the sha256 of each part, and `image rm` removes it. Needs root, mmdebstrap
// and the host's Debian mirror. The base tarball is cached in
// $WARREN_TEST_CACHE when set (passed to the daemon as images.cache_dir).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "image/digest.h"
#include "sys/runner.h"
#include "sys/test_util.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class ImageRegistryE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-registry-e2e-XXXXXX";
    root_ = mkdtemp(tmpl);
    const char* cache = std::getenv("WARREN_TEST_CACHE");
    if (cache != nullptr && *cache != '\0') {
      std::ofstream(root_ / "config.toml")
          << "[images]\ncache_dir = \"" << fs::absolute(cache).string() << "\"\n";
    }
    StartDaemon();
  }
  void TearDown() override {
    if (daemon_pid_ > 0) {
      kill(daemon_pid_, SIGTERM);
      int status = 0;
      if (!WaitPidFor(daemon_pid_, &status, std::chrono::seconds(90))) {
        ADD_FAILURE() << "the daemon did not exit within 90 s of SIGTERM";
        kill(daemon_pid_, SIGKILL);
        waitpid(daemon_pid_, &status, 0);
      }
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

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
    ASSERT_TRUE(PollUntil([&] { return SocketAccepts(); }, std::chrono::seconds(30)))
        << "the daemon did not listen within 30 s";
  }

  bool SocketAccepts() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    (root_ / "run/warren.sock").string().copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return ok;
  }

  RunResult Warren(std::vector<std::string> args) {
    RunSpec spec;
    spec.argv = {WARREN_BINARY, "--root", root_.string()};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.timeout = std::chrono::minutes(14);
    // The progress bar goes to stderr; show it live.
    spec.on_output = [](std::string_view chunk, bool is_stderr) {
      if (is_stderr) std::fwrite(chunk.data(), 1, chunk.size(), stderr);
    };
    Result<RunResult> r = runner_.Run(spec);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RunResult{};
  }

  fs::path root_;
  pid_t daemon_pid_ = -1;
  RealRunner runner_;
};

TEST_F(ImageRegistryE2eTest, BuildDefaultThenListInspectRemove) {
  RunResult build = Warren({"image", "build", "default"});
  ASSERT_EQ(build.exit_code, 0) << build.err;
  EXPECT_NE(build.out.find("SHA256"), std::string::npos) << build.out;  // the parts table

  RunResult ls = Warren({"image", "ls", "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  json images = json::parse(ls.out)["images"];
  ASSERT_EQ(images.size(), 1u) << ls.out;
  EXPECT_EQ(images[0]["name"], "default");
  EXPECT_EQ(images[0]["state"], "ready");
  EXPECT_EQ(images[0]["flavour"], "minimal");

  RunResult inspect = Warren({"image", "inspect", "default", "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  json info = json::parse(inspect.out);
  fs::path dir = info["dir"].get<std::string>();
  EXPECT_EQ(dir, root_ / "images" / "default");
  const json& m = info["manifest"];
  EXPECT_EQ(m["source"]["default"], true);
  EXPECT_NE(m["cmdline"].get<std::string>().find("root=/dev/vda"), std::string::npos);
  for (const char* role : {"kernel", "initrd", "rootfs"}) {
    ASSERT_TRUE(m["parts"].contains(role)) << role;
    fs::path file = dir / m["parts"][role]["file"].get<std::string>();
    Result<std::string> sha = Sha256FileHex(file);
    ASSERT_TRUE(sha.ok()) << sha.status().ToString();
    EXPECT_EQ(m["parts"][role]["sha256"], *sha) << role;
    EXPECT_EQ(m["parts"][role]["bytes"], fs::file_size(file)) << role;
  }
  EXPECT_TRUE(fs::is_empty(root_ / "images" / ".staging"));

  // A second build of the same name is refused, naming the fix.
  RunResult again = Warren({"image", "build", "default", "--detach"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("warren image rm default"), std::string::npos) << again.err;

  RunResult rm = Warren({"image", "rm", "default"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(json::parse(Warren({"image", "ls", "--json"}).out)["images"].empty());
}

}  // namespace
}  // namespace warren

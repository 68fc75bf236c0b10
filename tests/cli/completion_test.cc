// `warren completion bash|zsh` and the names it asks the daemon for: the real
// binary, a real daemon on a temp root whose store holds a VM row (no guest:
// a stopped VM needs no QEMU), and bash calling the generated function the
// way readline does.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/store.h"
#include "sys/layout.h"
#include "sys/runner.h"
#include "sys/test_util.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

class CompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-completion-XXXXXX";
    root_ = mkdtemp(tmpl);
    script_ = root_ / "warren.bash";
    RunResult gen = Run({WARREN_BINARY, "completion", "bash"});
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    std::ofstream(script_) << gen.out;
  }
  void TearDown() override {
    if (daemon_pid_ > 0) {
      kill(daemon_pid_, SIGTERM);
      int status = 0;
      if (!WaitPidFor(daemon_pid_, &status, std::chrono::seconds(60))) {
        kill(daemon_pid_, SIGKILL);
        waitpid(daemon_pid_, &status, 0);
      }
    }
    fs::remove_all(root_);
  }

  RunResult Run(std::vector<std::string> argv) {
    RunSpec spec;
    spec.argv = std::move(argv);
    spec.env = {"WARREN_ROOT=" + root_.string(), "PATH=/usr/bin:/bin"};
    spec.timeout = std::chrono::seconds(60);
    Result<RunResult> r = RealRunner().Run(spec);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RunResult{};
  }

  // What _warren offers for `words` (the last one being completed), one per line.
  std::string Complete(const std::vector<std::string>& words) {
    std::string array;
    for (const std::string& w : words) array += " '" + w + "'";
    const std::string program = "source '" + script_.string() + "' || exit 9\n" +
                                "COMP_WORDS=(" + array + ")\n" +
                                "COMP_CWORD=" + std::to_string(words.size() - 1) + "\n" +
                                "_warren || exit 8\n" +
                                "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
    RunResult r = Run({"/bin/bash", "-c", program});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return r.out;
  }

  // A VM row in the store, then `warren daemon` on it, waiting for its socket.
  void StartDaemonWithVm(const std::string& name) {
    Layout layout = Layout::ForRoot(root_);
    ASSERT_TRUE(layout.Ensure().ok());
    {
      Result<std::unique_ptr<Store>> store = Store::Open(layout.db_file);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      VmRecord vm;
      vm.id = "vm-0123456789ab";
      vm.name = name;
      vm.image = "base";
      vm.state = VmState::kStopped;
      vm.ip = "10.77.0.9";
      vm.mac = "52:54:00:00:00:09";
      ASSERT_TRUE((*store)->Transaction([&](Tx& tx) { return tx.InsertVm(vm); }).ok());
    }
    const pid_t test_pid = getpid();
    daemon_pid_ = fork();
    ASSERT_GE(daemon_pid_, 0);
    if (daemon_pid_ == 0) {
      DieWithParentForTest(test_pid);
      const std::string log = (root_ / "daemon.stderr").string();
      if (freopen(log.c_str(), "a", stderr) == nullptr ||
          freopen(log.c_str(), "a", stdout) == nullptr) {
        _exit(126);
      }
      execl(WARREN_BINARY, "warren", "--root", root_.c_str(), "daemon", nullptr);
      _exit(127);
    }
    ASSERT_TRUE(PollUntil(
        [&] {
          RunResult r = Run({WARREN_BINARY, "status"});
          return r.exit_code == 0;
        },
        std::chrono::seconds(30)))
        << "the daemon did not answer within 30 s";
  }

  fs::path root_, script_;
  pid_t daemon_pid_ = -1;
};

TEST_F(CompletionTest, BashLoadsTheScriptWithoutErrors) {
  RunResult syntax = Run({"/bin/bash", "-n", script_.string()});
  EXPECT_EQ(syntax.exit_code, 0) << syntax.err;
  RunResult loaded =
      Run({"/bin/bash", "-c", "source '" + script_.string() + "' && complete -p warren"});
  EXPECT_EQ(loaded.exit_code, 0) << loaded.err;
  EXPECT_EQ(loaded.out, "complete -F _warren warren\n");
  EXPECT_EQ(loaded.err, "");
}

TEST_F(CompletionTest, CommandsAndFlagsComeFromTheCliDefinition) {
  const std::string top = Complete({WARREN_BINARY, ""});
  for (const char* cmd : {"vm\n", "image\n", "session\n", "completion\n", "daemon\n"}) {
    EXPECT_NE(top.find(cmd), std::string::npos) << cmd << " missing from\n" << top;
  }
  EXPECT_EQ(top.find("__complete"), std::string::npos) << top;
  EXPECT_EQ(Complete({WARREN_BINARY, "vm", "st"}), "start\nstop\n");
  const std::string flags = Complete({WARREN_BINARY, "vm", "create", "--"});
  for (const char* flag : {"--image\n", "--cpus\n", "--root\n", "--json\n"}) {
    EXPECT_NE(flags.find(flag), std::string::npos) << flag << " missing from\n" << flags;
  }
  // With no daemon there are no names, and no error either.
  EXPECT_EQ(Complete({WARREN_BINARY, "vm", "start", ""}), "\n");
}

TEST_F(CompletionTest, VmNamesComeFromTheDaemon) {
  StartDaemonWithVm("web-1");
  EXPECT_EQ(Complete({WARREN_BINARY, "vm", "start", ""}), "web-1\n");
  EXPECT_EQ(Complete({WARREN_BINARY, "vm", "start", "we"}), "web-1\n");
  EXPECT_EQ(Complete({WARREN_BINARY, "exec", "w"}), "web-1\n");
  EXPECT_EQ(Complete({WARREN_BINARY, "--json", "vm", "rm", "--force", ""}), "web-1\n");
  // Only where a VM belongs: a new VM's name, or exec's command, offers none.
  EXPECT_EQ(Complete({WARREN_BINARY, "vm", "create", ""}), "\n");
  EXPECT_EQ(Complete({WARREN_BINARY, "exec", "web-1", "--", ""}), "\n");

  // zsh, through bashcompinit's compgen (zsh's compadd then filters by prefix).
  RunResult gen = Run({WARREN_BINARY, "completion", "zsh"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  std::ofstream(root_ / "_warren") << gen.out;
  fs::create_directories(root_ / "zhome");
  RunResult zsh = Run({WARREN_ZSH, "-c",
                       "HOME='" + (root_ / "zhome").string() + "'; source '" +
                           (root_ / "_warren").string() + "' || exit 9\n" +
                           "COMP_WORDS=('" + WARREN_BINARY + "' vm start '')\n" +
                           "COMP_CWORD=3\ncompgen -F _warren -- ''\n"});
  EXPECT_EQ(zsh.exit_code, 0) << zsh.err;
  EXPECT_EQ(zsh.out, "web-1\n") << zsh.err;
}

TEST_F(CompletionTest, ZshScriptParses) {
  RunResult gen = Run({WARREN_BINARY, "completion", "zsh"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  std::ofstream(root_ / "_warren") << gen.out;
  RunResult syntax = Run({WARREN_ZSH, "-n", (root_ / "_warren").string()});
  EXPECT_EQ(syntax.exit_code, 0) << syntax.err;
  EXPECT_EQ(Run({WARREN_BINARY, "completion", "fish"}).exit_code, 2);
}

}  // namespace
}  // namespace warren

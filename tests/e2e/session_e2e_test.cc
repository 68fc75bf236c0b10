// Guest sessions through the real daemon and CLI: `warren exec` (exit codes,
// separate stdout/stderr, 50 MiB both ways), detached sessions (re-attach
// after the client left, two attachers, `session send`), `warren shell` under
// tmux (prompt, resize), a stopped VM ending its sessions, 200 concurrent
// execs, and a killed guest connection taking only its own command. Real QEMU
// (TCG), the daemon's own network namespace, the default image.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "e2e/daemon_harness.h"
#include "image/digest.h"
#include "rpc/client.h"
#include "rpc/frame.h"

namespace warren::e2e {
namespace {

using json = nlohmann::json;

constexpr char kVm[] = "sess";
const std::string kConfig = "[network]\ntap_pool_size = 1\n";

class SessionE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new WarrenDaemon(kConfig);
    Result<json> vm = daemon_->StartWithVm(kVm);
    ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(daemon_, nullptr); }

  static WarrenDaemon* daemon_;
};
WarrenDaemon* SessionE2eTest::daemon_ = nullptr;

std::string Sha256(const std::string& data) { return Sha256Hex(data); }

// One CLI call with a deadline of its own: an exec that hangs fails its test
// with a message (the runner kills it) instead of holding the whole suite
// until ctest's timeout.
RunResult CliWithin(WarrenDaemon& d, std::chrono::seconds deadline,
                    const std::vector<std::string>& args, const std::string& stdin_data = "") {
  RunSpec spec;
  spec.argv = {WARREN_BINARY, "--root", d.root().string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.stdin_data = stdin_data;
  spec.timeout = deadline;
  RealRunner runner;
  Result<RunResult> r = runner.Run(spec);
  if (!r.ok()) return RunResult{-1, 0, "", r.error().ToString()};
  if (r->term_signal != 0) {
    r->err += "\n[test: no end within " + std::to_string(deadline.count()) +
              " s; killed by signal " + std::to_string(r->term_signal) + "]";
  }
  return *r;
}

// Generous next to what one exec needs even on a loaded TCG guest.
constexpr std::chrono::seconds kExecDeadline{120};

// An attached client over the daemon's socket, reading on its own thread.
class Attacher {
 public:
  Attacher(WarrenDaemon& d, const std::string& id) {
    auto c = rpc::Client::Connect(d.root() / "run/warren.sock");
    EXPECT_TRUE(c.ok());
    if (!c.ok()) return;
    client_ = std::move(*c);
    thread_ = std::thread([this, id] {
      reply_ = client_->Call("session.attach", {{"id", id}, {"stream", 1}}, {},
                             [this](uint32_t, uint8_t, std::string_view bytes) {
                               std::lock_guard<std::mutex> l(mu_);
                               seen_.append(bytes);
                             });
      done_ = true;
    });
  }
  ~Attacher() {
    if (client_) client_->Cancel();
    if (thread_.joinable()) thread_.join();
  }
  // Waits (bounded by a generous retry count, not asserted as a time) until
  // `want` was seen.
  bool WaitFor(const std::string& want) {
    for (int i = 0; i < 1200; ++i) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (seen_.find(want) != std::string::npos) return true;
      }
      if (done_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::lock_guard<std::mutex> l(mu_);
    ADD_FAILURE() << "never saw \"" << want << "\"; saw: " << seen_;
    return false;
  }
  bool done() const { return done_; }
  const Result<json>& reply() const { return reply_; }

 private:
  std::unique_ptr<rpc::Client> client_;
  std::thread thread_;
  std::mutex mu_;
  std::string seen_;
  std::atomic<bool> done_{false};
  Result<json> reply_ = Unavailable("no reply yet");
};

TEST_F(SessionE2eTest, ExecExitCodesPropagate) {
  WarrenDaemon& d = *daemon_;
  EXPECT_EQ(d.Cli({"exec", kVm, "--", "true"}).exit_code, 0);
  EXPECT_EQ(d.Cli({"exec", kVm, "--", "sh", "-c", "exit 1"}).exit_code, 1);
  RunResult missing = d.Cli({"exec", kVm, "--", "no-such-command"});
  EXPECT_EQ(missing.exit_code, 127) << missing.err;
  RunResult env = d.Cli({"exec", kVm, "--env", "A=b c", "--workdir", "/tmp", "--", "sh", "-c",
                         "echo \"$A\" $(pwd)"});
  EXPECT_EQ(env.out, "b c /tmp\n") << env.err;
}

TEST_F(SessionE2eTest, ExecKeepsStdoutAndStderrApart) {
  RunResult r = daemon_->Cli(
      {"exec", kVm, "--", "sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; done"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "out1\nout2\nout3\n");
  EXPECT_EQ(r.err, "err1\nerr2\nerr3\n");
}

TEST_F(SessionE2eTest, FiftyMiBThroughExecBothWays) {
  WarrenDaemon& d = *daemon_;
  std::string blob(50u << 20, '\0');
  std::mt19937_64 rng(5);
  for (size_t i = 0; i < blob.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(&blob[i], &v, 8);
  }
  const std::string want = Sha256(blob);
  RunResult up = d.Cli({"exec", kVm, "--", "sh", "-c", "cat > /root/blob && sha256sum /root/blob"},
                       blob);
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(up.out.substr(0, 64), want);
  // Downloaded through a pipe (the test's capture is smaller than 50 MiB).
  RealRunner runner;
  RunSpec spec;
  spec.argv = {"bash", "-c",
               "set -o pipefail; " + std::string(WARREN_BINARY) + " --root " +
                   d.root().string() + " exec " + kVm + " -- cat /root/blob | sha256sum"};
  Result<RunResult> down = runner.Run(spec);
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->exit_code, 0) << down->err;
  EXPECT_EQ(down->out.substr(0, 64), want);
  EXPECT_EQ(d.Cli({"exec", kVm, "--", "rm", "/root/blob"}).exit_code, 0);
}

// 200 execs from 20 concurrent CLI clients on one VM, mixed short, long and
// stdin-fed ones: every one succeeds. On a shared connection, a command ending
// while another was being opened could abort every command on it (Debian 12's
// dropbear, docs/SESSIONS.md); each command now has a connection of its own.
TEST_F(SessionE2eTest, TwoHundredConcurrentMixedExecsAllSucceed) {
  WarrenDaemon& d = *daemon_;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 20; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      for (int i = 0; i < 10; ++i) {
        int kind = (t + i) % 3;
        RunResult r;
        std::string want;
        if (kind == 0) {
          r = CliWithin(d, kExecDeadline, {"exec", kVm, "--", "true"});
        } else if (kind == 1) {
          r = CliWithin(d, kExecDeadline, {"exec", kVm, "--", "sh", "-c", "sleep 1; echo slept"});
          want = "slept\n";
        } else {
          std::string input(16 * 1024 + rng() % 4096, '\0');
          for (char& ch : input) ch = static_cast<char>(rng());
          r = CliWithin(d, kExecDeadline, {"exec", kVm, "--", "sha256sum"}, input);
          want = Sha256(input) + "  -\n";
        }
        if (r.exit_code == 0 && r.out == want) {
          ++good;
        } else {
          ADD_FAILURE() << "client " << t << " #" << i << ": exit " << r.exit_code << " out "
                        << r.out << " err " << r.err;
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(good.load(), 200);
}

// Under load, the guest's SSH server process of one connection is killed:
// only the command on that connection fails, and the next exec works.
TEST_F(SessionE2eTest, AKilledGuestConnectionTakesOnlyItsCommand) {
  WarrenDaemon& d = *daemon_;
  ASSERT_EQ(CliWithin(d, kExecDeadline,
                      {"exec", kVm, "--", "sh", "-c", "rm -rf /tmp/pp && mkdir /tmp/pp"})
                .exit_code,
            0);
  // Each records its connection's server process ($PPID), then runs on.
  constexpr int kCommands = 5;  // #0 is the victim
  std::vector<RunResult> results(kCommands);
  std::vector<std::thread> running;
  for (int i = 0; i < kCommands; ++i) {
    running.emplace_back([&, i] {
      std::string body = "echo $PPID > /tmp/pp/" + std::to_string(i) + "; sleep " +
                         (i == 0 ? "60" : "12") + "; echo ok";
      results[i] = CliWithin(d, kExecDeadline, {"exec", kVm, "--", "sh", "-c", body});
    });
  }
  std::atomic<bool> loading{true};
  std::thread load([&] {  // short execs keep coming meanwhile
    while (loading) {
      RunResult r = CliWithin(d, kExecDeadline, {"exec", kVm, "--", "true"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
  });
  bool all_recorded = false;
  for (int i = 0; i < 200 && !all_recorded; ++i) {
    RunResult ls =
        CliWithin(d, kExecDeadline, {"exec", kVm, "--", "sh", "-c", "ls /tmp/pp | wc -l"});
    all_recorded = ls.out == std::to_string(kCommands) + "\n";
    if (!all_recorded) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(all_recorded);
  RunResult kill =
      CliWithin(d, kExecDeadline, {"exec", kVm, "--", "sh", "-c", "kill -9 $(cat /tmp/pp/0)"});
  EXPECT_EQ(kill.exit_code, 0) << kill.err;
  for (auto& t : running) t.join();
  loading = false;
  load.join();
  EXPECT_NE(results[0].exit_code, 0) << "the victim's connection was killed";
  EXPECT_NE(results[0].err.find("connection"), std::string::npos) << results[0].err;
  for (int i = 1; i < kCommands; ++i) {
    EXPECT_EQ(results[i].exit_code, 0) << "#" << i << ": " << results[i].err;
    EXPECT_EQ(results[i].out, "ok\n");
  }
  RunResult next = CliWithin(d, kExecDeadline, {"exec", kVm, "--", "echo", "next"});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(next.out, "next\n");
}

TEST_F(SessionE2eTest, DetachedSessionOutlivesItsClientAndSharesOutput) {
  WarrenDaemon& d = *daemon_;
  RunResult start = d.Cli({"session", "start", kVm, "--name", "echoer", "--no-tty", "--", "sh",
                           "-c", "echo started; while read l; do echo got:$l; done"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  std::string id = start.out.substr(0, start.out.find('\n'));
  ASSERT_FALSE(id.empty());
  // The starting client is gone; the session runs on.
  RunResult ls = d.Cli({"session", "ls", kVm});
  EXPECT_NE(ls.out.find("echoer"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("running"), std::string::npos) << ls.out;
  {
    Attacher a(d, "echoer");
    EXPECT_TRUE(a.WaitFor("started"));
  }  // detached
  Attacher a(d, id);
  Attacher b(d, "echoer");
  EXPECT_TRUE(a.WaitFor("started")) << "a late attacher sees earlier output";
  RunResult sent = d.Cli({"session", "send", "echoer", "hello"});
  EXPECT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_TRUE(a.WaitFor("got:hello"));
  EXPECT_TRUE(b.WaitFor("got:hello"));
  RunResult logs = d.Cli({"session", "logs", "echoer"});
  EXPECT_NE(logs.out.find("started\ngot:hello\n"), std::string::npos) << logs.out;

  RunResult killed = d.Cli({"session", "kill", "echoer"});
  EXPECT_EQ(killed.exit_code, 0) << killed.err;
  for (int i = 0; i < 200 && !(a.done() && b.done()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(a.done() && b.done()) << "attachers end with the session";
  EXPECT_NE(d.Cli({"session", "ls"}).out.find("killed"), std::string::npos);
  EXPECT_EQ(d.Cli({"session", "kill", "echoer"}).exit_code, 0);  // forgets it
}

TEST_F(SessionE2eTest, ShellUnderTmuxShowsThePromptAndFollowsResizes) {
  WarrenDaemon& d = *daemon_;
  RealRunner runner;
  auto tmux = [&](std::vector<std::string> args) {
    RunSpec spec;
    spec.argv = {"tmux", "-L", "warren-e2e"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    Result<RunResult> r = runner.Run(spec);
    return r.ok() ? *r : RunResult{-1, 0, "", r.error().ToString()};
  };
  std::string cmd = std::string(WARREN_BINARY) + " --root " + d.root().string() + " shell " + kVm;
  ASSERT_EQ(tmux({"new-session", "-d", "-s", "w", "-x", "100", "-y", "30", cmd}).exit_code, 0);
  auto screen_has = [&](const std::string& want) {
    for (int i = 0; i < 600; ++i) {
      RunResult cap = tmux({"capture-pane", "-p", "-t", "w"});
      if (cap.out.find(want) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "screen never showed \"" << want << "\":\n"
                  << tmux({"capture-pane", "-p", "-t", "w"}).out;
    return false;
  };
  EXPECT_TRUE(screen_has("#"));  // root's prompt
  tmux({"send-keys", "-t", "w", "stty size", "Enter"});
  EXPECT_TRUE(screen_has("30 100"));
  tmux({"resize-window", "-t", "w", "-x", "120", "-y", "40"});
  tmux({"send-keys", "-t", "w", "clear; stty size", "Enter"});
  EXPECT_TRUE(screen_has("40 120"));
  tmux({"send-keys", "-t", "w", "exit", "Enter"});
  tmux({"kill-server"});
}

// Last: stops the VM.
TEST_F(SessionE2eTest, ZStoppingTheVmEndsItsSessions) {
  WarrenDaemon& d = *daemon_;
  RunResult start = d.Cli({"session", "start", kVm, "--name", "sleeper", "--", "sleep", "1000"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  Attacher a(d, "sleeper");
  Result<json> stopped = d.Call("vm.stop", {{"name", kVm}, {"force", true}});
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  for (int i = 0; i < 200 && !a.done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(a.done());
  Result<json> ls = d.Call("session.ls", {{"vm", kVm}});
  ASSERT_TRUE(ls.ok());
  bool found = false;
  for (const json& s : (*ls)["sessions"]) {
    if (s.value("name", "") != "sleeper") continue;
    found = true;
    EXPECT_EQ(s.value("state", ""), "lost") << s.dump();
  }
  EXPECT_TRUE(found);
  RunResult refused = d.Cli({"exec", kVm, "--", "true"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("not running"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace warren::e2e

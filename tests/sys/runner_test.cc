#include "sys/runner.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <thread>

#include "sys/test_util.h"

namespace warren {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

RunSpec Spec(std::vector<std::string> argv) {
  RunSpec s;
  s.argv = std::move(argv);
  // A safety net so a broken runner fails the test instead of hanging it.
  s.timeout = std::chrono::seconds(60);
  return s;
}

RunSpec Sh(const std::string& script) { return Spec({"/bin/sh", "-c", script}); }

TEST(RealRunnerTest, CapturesStdoutAndExitZero) {
  RealRunner runner;
  auto r = runner.Run(Spec({"/bin/echo", "hello", "world"}));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->term_signal, 0);
  EXPECT_EQ(r->out, "hello world\n");
  EXPECT_EQ(r->err, "");
}

TEST(RealRunnerTest, ResolvesProgramThroughPath) {
  RealRunner runner;
  auto r = runner.Run(Spec({"echo", "via path"}));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->out, "via path\n");
}

TEST(RealRunnerTest, ArgumentsAreNotShellExpanded) {
  RealRunner runner;
  auto r = runner.Run(Spec({"/bin/echo", "$HOME", "*", "a;b", "`id`"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "$HOME * a;b `id`\n");
}

TEST(RealRunnerTest, NonZeroExitIsNotAnError) {
  RealRunner runner;
  auto r = runner.Run(Sh("exit 3"));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->term_signal, 0);
}

TEST(RealRunnerTest, ReportsTerminatingSignal) {
  RealRunner runner;
  auto r = runner.Run(Sh("kill -KILL $$"));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->term_signal, SIGKILL);
}

TEST(RealRunnerTest, SeparatesStdoutAndStderr) {
  RealRunner runner;
  auto r = runner.Run(Sh("echo to-out; echo to-err >&2; echo more-out"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "to-out\nmore-out\n");
  EXPECT_EQ(r->err, "to-err\n");
}

TEST(RealRunnerTest, WritesStdinThenClosesIt) {
  RealRunner runner;
  RunSpec s = Spec({"cat"});
  s.stdin_data = "line one\nline two\n";
  auto r = runner.Run(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, s.stdin_data);
}

TEST(RealRunnerTest, EmptyStdinIsDevNull) {
  RealRunner runner;
  auto r = runner.Run(Spec({"cat"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "");
}

TEST(RealRunnerTest, LargeStdinAndStdoutTogetherDoNotDeadlock) {
  RealRunner runner;
  RunSpec s = Spec({"cat"});
  s.stdin_data.assign(8 << 20, 'x');
  auto r = runner.Run(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), s.stdin_data.size());
}

TEST(RealRunnerTest, ProgramThatIgnoresStdinDoesNotKillUsWithSigpipe) {
  RealRunner runner;
  RunSpec s = Spec({"true"});
  s.stdin_data.assign(4 << 20, 'x');
  auto r = runner.Run(s);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0);
}

TEST(RealRunnerTest, LargeOutputOnBothStreams) {
  RealRunner runner;
  auto r = runner.Run(Sh("head -c 10485760 /dev/zero; head -c 10485760 /dev/zero >&2"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), 10485760u);
  EXPECT_EQ(r->err.size(), 10485760u);
}

TEST(RealRunnerTest, CaptureLimitKeepsHeadAndNotesDrop) {
  RealRunner runner;
  RunSpec s = Sh("head -c 10485760 /dev/zero | tr '\\0' a");
  s.capture_limit = 1000;
  size_t streamed = 0;
  s.on_output = [&](std::string_view chunk, bool) { streamed += chunk.size(); };
  auto r = runner.Run(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(streamed, 10485760u);
  EXPECT_EQ(r->out.substr(0, 1000), std::string(1000, 'a'));
  EXPECT_THAT(r->out.substr(1000), HasSubstr("10484760 more bytes of stdout not captured"));
}

// The child waits for files that only the callback creates, so the test can
// only pass if chunks are delivered while the program runs, in order.
TEST(RealRunnerTest, StreamsChunksInOrderWhileRunning) {
  TempDir dir;
  RealRunner runner;
  RunSpec s =
      Sh("echo a; while [ ! -e f1 ]; do sleep 0.01; done;"
         "echo b >&2; while [ ! -e f2 ]; do sleep 0.01; done; echo c");
  s.cwd = dir.path();
  std::vector<std::pair<std::string, bool>> seen;
  s.on_output = [&](std::string_view chunk, bool is_stderr) {
    seen.emplace_back(std::string(chunk), is_stderr);
    if (chunk == "a\n") std::ofstream(dir.path() / "f1") << "";
    if (chunk == "b\n") std::ofstream(dir.path() / "f2") << "";
  };
  auto r = runner.Run(s);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  std::vector<std::pair<std::string, bool>> want = {{"a\n", false}, {"b\n", true}, {"c\n", false}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(r->out, "a\nc\n");
  EXPECT_EQ(r->err, "b\n");
}

TEST(RealRunnerTest, ExtraEnvOverridesInherited) {
  ASSERT_EQ(setenv("WARREN_RUNNER_TEST_VAR", "old", 1), 0);
  RealRunner runner;
  RunSpec s = Spec({"env"});
  s.env = {"WARREN_RUNNER_TEST_VAR=new", "WARREN_RUNNER_OTHER=1"};
  auto r = runner.Run(s);
  unsetenv("WARREN_RUNNER_TEST_VAR");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->out, HasSubstr("WARREN_RUNNER_TEST_VAR=new\n"));
  EXPECT_THAT(r->out, HasSubstr("WARREN_RUNNER_OTHER=1\n"));
  EXPECT_THAT(r->out, Not(HasSubstr("WARREN_RUNNER_TEST_VAR=old")));
  EXPECT_THAT(r->out, HasSubstr("PATH="));  // inherited
}

TEST(RealRunnerTest, NoInheritPassesOnlyGivenEnv) {
  RealRunner runner;
  RunSpec s = Spec({"/usr/bin/env"});
  s.inherit_env = false;
  s.env = {"ONLY=this"};
  auto r = runner.Run(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "ONLY=this\n");
}

TEST(RealRunnerTest, RunsInRequestedDirectory) {
  TempDir dir;
  RealRunner runner;
  RunSpec s = Spec({"/bin/pwd", "-P"});
  s.cwd = dir.path();
  auto r = runner.Run(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(RealRunnerTest, MissingDirectoryIsInternalError) {
  RealRunner runner;
  RunSpec s = Spec({"/bin/true"});
  s.cwd = "/nonexistent/warren/dir";
  auto r = runner.Run(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInternal);
  EXPECT_THAT(r.error().message(), HasSubstr("/nonexistent/warren/dir"));
}

TEST(RealRunnerTest, MissingProgramIsNotFound) {
  RealRunner runner;
  auto r = runner.Run(Spec({"warren-no-such-program", "--version"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_THAT(r.error().message(), HasSubstr("warren-no-such-program"));
  EXPECT_THAT(r.error().message(), HasSubstr("installed"));

  auto abs = runner.Run(Spec({"/nonexistent/bin/tool"}));
  ASSERT_FALSE(abs.ok());
  EXPECT_EQ(abs.error().code(), Code::kNotFound);
}

TEST(RealRunnerTest, EmptyArgvIsInvalid) {
  RealRunner runner;
  auto r = runner.Run(RunSpec{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
}

TEST(RealRunnerTest, DoesNotLeakDescriptors) {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 0);
  int high = ::fcntl(fd, F_DUPFD, 200);
  ::close(fd);
  ASSERT_GE(high, 200);
  RealRunner runner;
  auto r = runner.Run(Sh("ls /proc/$$/fd"));
  ::close(high);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->out, Not(HasSubstr(std::to_string(high))));
  EXPECT_THAT(r->out, HasSubstr("2"));
}

// A background process that inherited stdout must not keep Run() waiting once
// the program itself has exited.
TEST(RealRunnerTest, ReturnsWhenProgramExitsDespiteBackgroundHolder) {
  RealRunner runner;
  auto r = runner.Run(Sh("sleep 1000 & echo $!"));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0);
  pid_t bg = std::stoi(r->out);
  ASSERT_GT(bg, 0);
  ::kill(bg, SIGKILL);
  EXPECT_TRUE(EventuallyGone(bg));
}

TEST(RealRunnerTest, TimeoutKillsWholeProcessGroup) {
  RealRunner runner;
  RunSpec s = Sh("sleep 1000 & echo $!; wait");
  s.timeout = std::chrono::milliseconds(300);
  std::string printed;
  s.on_output = [&](std::string_view chunk, bool) { printed += chunk; };
  auto r = runner.Run(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kDeadlineExceeded);
  EXPECT_THAT(r.error().message(), HasSubstr("/bin/sh"));
  ASSERT_FALSE(printed.empty());
  EXPECT_TRUE(EventuallyGone(std::stoi(printed))) << "grandchild sleep survived";
}

TEST(RealRunnerTest, TimeoutEscalatesToSigkill) {
  RealRunner runner;
  // TERM is ignored by the shell and, inherited, by sleep.
  RunSpec s = Sh("trap '' TERM; sleep 1000 & echo $!; wait");
  s.timeout = std::chrono::milliseconds(100);
  std::string printed;
  s.on_output = [&](std::string_view chunk, bool) { printed += chunk; };
  auto r = runner.Run(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kDeadlineExceeded);
  ASSERT_FALSE(printed.empty());
  EXPECT_TRUE(EventuallyGone(std::stoi(printed)));
}

TEST(RealRunnerTest, StopFromCallbackCancelsAndKillsGroup) {
  RealRunner runner;
  std::stop_source stop;
  RunSpec s = Sh("sleep 1000 & echo $!; wait");
  std::string printed;
  s.on_output = [&](std::string_view chunk, bool) {
    printed += chunk;
    stop.request_stop();
  };
  auto r = runner.Run(s, stop.get_token());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kCancelled);
  ASSERT_FALSE(printed.empty());
  EXPECT_TRUE(EventuallyGone(std::stoi(printed)));
}

TEST(RealRunnerTest, StopFromAnotherThreadWakesRunner) {
  RealRunner runner;
  std::stop_source stop;
  std::promise<void> started;
  RunSpec s = Sh("echo up; exec sleep 1000");
  s.timeout = std::chrono::milliseconds(0);  // only the stop can end it
  s.on_output = [&](std::string_view, bool) { started.set_value(); };
  std::thread stopper([&] {
    started.get_future().wait();
    stop.request_stop();
  });
  auto r = runner.Run(s, stop.get_token());
  stopper.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kCancelled);
}

TEST(RealRunnerTest, AlreadyStoppedTokenDoesNotSpawn) {
  TempDir dir;
  RealRunner runner;
  std::stop_source stop;
  stop.request_stop();
  RunSpec s = Spec({"touch", (dir.path() / "ran").string()});
  auto r = runner.Run(s, stop.get_token());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kCancelled);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ran"));
}

TEST(RealRunnerTest, ConcurrentRunsAreIndependent) {
  RealRunner runner;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        RunSpec s = Spec({"/bin/echo", std::to_string(t * 100 + i)});
        auto r = runner.Run(s);
        if (r.ok() && r->out == std::to_string(t * 100 + i) + "\n") good++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 20);
}

TEST(CheckSuccessTest, OkForZeroExit) {
  RunSpec s = Spec({"tool"});
  RunResult rr;
  rr.exit_code = 0;
  EXPECT_TRUE(CheckSuccess(s, Result<RunResult>(rr)).ok());
}

TEST(CheckSuccessTest, NamesProgramCodeAndStderrTail) {
  RealRunner runner;
  RunSpec s = Sh("i=1; while [ $i -le 30 ]; do echo \"err line $i\" >&2; i=$((i+1)); done; exit 2");
  Status st = CheckSuccess(s, runner.Run(s));
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("\"/bin/sh\" exited with code 2"));
  EXPECT_THAT(st.message(), HasSubstr("err line 30"));
  EXPECT_THAT(st.message(), HasSubstr("err line 11\n"));
  EXPECT_THAT(st.message(), Not(HasSubstr("err line 10\n")));
}

TEST(CheckSuccessTest, NamesSignal) {
  RunSpec s = Spec({"qemu-img"});
  RunResult rr;
  rr.term_signal = SIGKILL;
  Status st = CheckSuccess(s, Result<RunResult>(rr));
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("qemu-img"));
  EXPECT_THAT(st.message(), HasSubstr("SIGKILL"));
}

TEST(CheckSuccessTest, PassesRunErrorsThrough) {
  RunSpec s = Spec({"x"});
  Status st = CheckSuccess(s, Result<RunResult>(NotFound("program \"x\" not found")));
  EXPECT_EQ(st.code(), Code::kNotFound);
}

TEST(RunAndCheckTest, ReturnsStdoutOrError) {
  RealRunner runner;
  auto out = RunAndCheck(runner, Spec({"/bin/echo", "fine"}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "fine\n");
  auto bad = RunAndCheck(runner, Sh("echo broken >&2; exit 1"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("broken"));
}

}  // namespace
}  // namespace warren

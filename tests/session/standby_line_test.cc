// StandbyCommand + StandbyLine against real shells (dash as /bin/sh, bash):
// a standby shell fed the line and then the command's stdin must do exactly
// what `SHELL -c ExecCommandLine(spec)` does with that stdin: same output, same
// exit status, the rest of stdin left to the command, no launcher variable in
// its environment. Stdin comes through a pipe, as an SSH server gives it.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "session/guest_ssh.h"

namespace warren {
namespace {

struct Ran {
  std::string out;  // stdout and stderr
  int status = -1;
};

// Runs `shell -c command` with `input` on a pipe as its stdin.
Ran RunShell(const std::string& shell, const std::string& command, const std::string& input) {
  char path[] = "/tmp/warren-standby-test-XXXXXX";
  int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path, std::ios::binary) << input;
  std::string line = "cat " + std::string(path) + " | " + ShellQuote({shell, "-c", command}) +
                     " 2>&1; echo \"[$?]\"";
  Ran r;
  FILE* p = ::popen(line.c_str(), "r");
  EXPECT_NE(p, nullptr);
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = ::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  ::pclose(p);
  ::unlink(path);
  // The status is the last line, "[N]".
  size_t open = r.out.rfind('[');
  if (open != std::string::npos) {
    r.status = std::atoi(r.out.c_str() + open + 1);
    r.out.resize(open);
  }
  // A shell names itself in its messages ("sh: 1: exec: ...", "bash: line 1:
  // ..."): the same shell runs both sides, so messages compare as they are.
  return r;
}

// What the standby path gives, next to what the classic exec request gives.
void ExpectSameAsExec(const ExecSpec& spec, const std::string& stdin_rest) {
  Result<std::string> direct = ExecCommandLine(spec);
  ASSERT_TRUE(direct.ok()) << direct.error().ToString();
  std::optional<std::string> line = StandbyLine(spec);
  ASSERT_TRUE(line.has_value());
  ASSERT_EQ(line->find('\n'), line->size() - 1) << *line;
  for (const char* shell : {"/bin/sh", "/bin/bash"}) {
    Ran want = RunShell(shell, *direct, stdin_rest);
    Ran got = RunShell(shell, std::string(StandbyCommand()), *line + stdin_rest);
    EXPECT_EQ(got.out, want.out) << shell << " with " << *line;
    EXPECT_EQ(got.status, want.status) << shell << " with " << *line;
  }
}

ExecSpec Argv(std::vector<std::string> argv) {
  ExecSpec s;
  s.argv = std::move(argv);
  return s;
}

TEST(StandbyLineTest, ArgvWithQuotesNewlinesAndEmptyWordsArrivesIntact) {
  ExecSpec spec = Argv({"printf", "<%s>\\n", "a b", "it's", "line1\nline2\n", "", "$HOME", "*",
                        "\"q\"", "back\\slash", "'\n'"});
  ExpectSameAsExec(spec, "");
  Ran r = RunShell("/bin/sh", std::string(StandbyCommand()), *StandbyLine(spec));
  EXPECT_EQ(r.out,
            "<a b>\n<it's>\n<line1\nline2\n>\n<>\n<$HOME>\n<*>\n<\"q\">\n<back\\slash>\n<'\n'>\n");
}

TEST(StandbyLineTest, TheRestOfStdinIsTheCommandsStdin) {
  // The line is read byte by byte, so nothing after it is lost to the shell.
  ExpectSameAsExec(Argv({"cat"}), "first line\nsecond\n\nno newline at the end");
  ExpectSameAsExec(Argv({"sh", "-c", "read a; echo \"got $a\"; wc -c"}), "x y\n12345\n");
}

TEST(StandbyLineTest, EnvWorkdirAndExitStatusAsExec) {
  ExecSpec spec = Argv({"sh", "-c", "printf '%s|' \"$V\" \"$W\" \"$(pwd)\"; exit 3"});
  spec.env = {{"V", "x\ny 'q' $z"}, {"W", ""}};
  spec.workdir = "/tmp";
  ExpectSameAsExec(spec, "");
  ExecSpec bad_dir = Argv({"true"});
  bad_dir.workdir = "/no/such dir";
  ExpectSameAsExec(bad_dir, "");
  ExpectSameAsExec(Argv({"no-such-command-here", "x"}), "");  // 127, the shell's message
  ExpectSameAsExec(Argv({"sh", "-c", "kill -TERM $$"}), "");  // killed: the same status
}

TEST(StandbyLineTest, TheLaunchersVariablesStayOutOfTheCommandsEnvironment) {
  Ran r = RunShell("/bin/sh", std::string(StandbyCommand()),
                   *StandbyLine(Argv({"sh", "-c", "env | grep -c _warren_; true"})));
  EXPECT_EQ(r.out, "0\n");
}

TEST(StandbyLineTest, EofBeforeALineRunsNothing) {
  Ran r = RunShell("/bin/sh", std::string(StandbyCommand()), "echo half a line");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.status, 0);
}

TEST(StandbyLineTest, SpecsAStandbyCannotServe) {
  ExecSpec tty = Argv({"true"});
  tty.tty = true;
  EXPECT_FALSE(StandbyLine(tty).has_value());
  EXPECT_FALSE(StandbyLine(ExecSpec{}).has_value());
  EXPECT_FALSE(StandbyLine(Argv({"echo", std::string("a\0b", 3)})).has_value());
  EXPECT_FALSE(StandbyLine(Argv({"echo", std::string(kStandbyLineMaxBytes, 'x')})).has_value());
  EXPECT_TRUE(StandbyLine(Argv({"echo", std::string(kStandbyLineMaxBytes - 20, 'x')})));
  ExecSpec bad_env = Argv({"true"});
  bad_env.env = {{"1BAD", "x"}};
  EXPECT_FALSE(StandbyLine(bad_env).has_value());  // the classic path reports it
  ExecSpec own = Argv({"true"});
  own.env = {{"_warren_nl", "x"}};
  EXPECT_FALSE(StandbyLine(own).has_value());
}

}  // namespace
}  // namespace warren

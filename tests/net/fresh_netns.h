#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "sys/test_util.h"

namespace warren {

// How long a namespaced test body may run before it is killed and failed.
inline constexpr std::chrono::seconds kFreshNetnsDeadline{120};

// Prints every thread's stack of the body under `middle` (its one child),
// when gdb is installed: a hung test says where it waits. Bounded in time.
inline void DumpBodyStacksForTest(pid_t middle) {
  const std::string task = "/proc/" + std::to_string(middle) + "/task/" + std::to_string(middle);
  std::ifstream children(task + "/children");
  long body = 0;
  if (!(children >> body) || body <= 0) return;
  std::printf("--- the hung test body's threads (pid %ld) ---\n", body);
  std::fflush(nullptr);
  const std::string cmd = "timeout 60 gdb -batch -nx -p " + std::to_string(body) +
                          " -ex 'thread apply all bt' 2>&1 | grep -v '^\\[New LWP' | "
                          "head -c 200000";
  if (std::system(cmd.c_str()) != 0) std::printf("(gdb could not print them)\n");
  std::fflush(nullptr);
}

// Runs `body` in a forked child that has its own network, mount and PID
// namespaces, so every bridge, TAP, address and /run/netns-style bind mount
// the body makes lives and dies with the child, never touching the machine's
// network. `body` gets a tmpfs directory to use as the netns dir.
//
// The body is PID 1 of its PID namespace: however it ends (returns, crashes,
// is killed at the deadline, or the test process itself is killed by ctest),
// the kernel kills every process it started (dropbear and its children
// included, whatever process group they chose), so nothing outlives the test
// or keeps ctest's output pipes open. The chain is: test process → middle
// (its own process group, PDEATHSIG) → body (PID 1, PDEATHSIG).
//
// Failures inside the child are printed by its gtest and turn into its exit
// status, which the parent checks; a body still running at `deadline` is
// killed and reported as a failure. Returns false (the caller should
// GTEST_SKIP) when namespaces cannot be made, i.e. not running as root.
inline bool RunInFreshNetns(const std::function<void(const std::string& netns_dir)>& body,
                            std::chrono::seconds deadline = kFreshNetnsDeadline) {
  constexpr int kNoPrivilege = 77;
  if (::geteuid() != 0) return false;
  std::string tmpl = (std::filesystem::temp_directory_path() / "warren-netns-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return true;
  }
  std::fflush(nullptr);  // or the child re-prints the parent's buffered output
  const pid_t test_pid = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    DieWithParentForTest(test_pid);
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID) != 0) ::_exit(kNoPrivilege);
    pid_t body_pid = ::fork();  // PID 1 of the new PID namespace
    if (body_pid == 0) {
      // As PID 1 its parent lies outside its namespace: getppid() is 0 here.
      // (Were the middle already gone, the parent's group kill still reaches us.)
      DieWithParentForTest(0);
      // /proc remounted so PIDs the body sees and /proc/<pid> agree.
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0 ||
          ::mount("tmpfs", tmpl.c_str(), "tmpfs", 0, "size=1m") != 0) {
        std::perror("private mounts for the test namespace");
        ::_exit(2);
      }
      body(tmpl);
      std::fflush(nullptr);
      ::_exit(::testing::Test::HasFailure() ? 1 : 0);
    }
    int st = 0;
    if (body_pid < 0 || ::waitpid(body_pid, &st, 0) != body_pid) ::_exit(3);
    ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    ::rmdir(tmpl.c_str());
    return true;
  }
  ::setpgid(pid, pid);  // also from here, so a kill never races the child's own call
  int status = 0;
  if (!WaitPidFor(pid, &status, deadline)) {
    DumpBodyStacksForTest(pid);
    ::kill(-pid, SIGKILL);  // the body too; its PID namespace goes with it
    ::waitpid(pid, &status, 0);
    ::rmdir(tmpl.c_str());
    ADD_FAILURE() << "test body still running after " << deadline.count()
                  << " s: killed it and every process it started (a wait without a deadline?)";
    return true;
  }
  ::rmdir(tmpl.c_str());
  if (WIFEXITED(status) && WEXITSTATUS(status) == kNoPrivilege) return false;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "test body failed in its namespace (see its output above); wait status " << status;
  return true;
}

// Variadic because lambda bodies contain commas the preprocessor would split on.
#define IN_FRESH_NETNS(...)                                                \
  do {                                                                     \
    if (!::warren::RunInFreshNetns(__VA_ARGS__)) {                         \
      GTEST_SKIP() << "needs root to create network and mount namespaces"; \
    }                                                                      \
  } while (0)

}  // namespace warren

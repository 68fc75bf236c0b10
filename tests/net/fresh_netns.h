#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

namespace warren {

// Runs `body` in a forked child that has its own network namespace and its own
// (private) mount namespace, so every bridge, TAP, address and /run/netns-style
// bind mount the body makes lives and dies with the child, never touching the
// machine's network. `body` gets a tmpfs directory to use as the netns dir.
// Failures inside the child are printed by its gtest and turn into its exit
// status, which the parent checks. Returns false (the caller should
// GTEST_SKIP) when namespaces cannot be made, i.e. not running as root.
inline bool RunInFreshNetns(const std::function<void(const std::string& netns_dir)>& body) {
  constexpr int kNoPrivilege = 77;
  if (::geteuid() != 0) return false;
  std::string tmpl = (std::filesystem::temp_directory_path() / "warren-netns-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return true;
  }
  std::fflush(nullptr);  // or the child re-prints the parent's buffered output
  pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(120);  // a hung body fails the test instead of hanging ctest
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) ::_exit(kNoPrivilege);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", tmpl.c_str(), "tmpfs", 0, "size=1m") != 0) {
      std::perror("private mounts for the test namespace");
      ::_exit(2);
    }
    body(tmpl);
    std::fflush(nullptr);
    ::_exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
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

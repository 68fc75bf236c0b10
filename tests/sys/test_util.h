#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace warren {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "warren-sys-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// True once `pid` no longer runs (gone, or a zombie awaiting its new parent).
// Waits up to 30 s because SIGKILL delivery is asynchronous; not a timing check.
inline bool EventuallyGone(pid_t pid) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return true;
    std::string line;
    std::getline(stat, line);
    size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z')
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Call in a child right after fork(): it gets SIGKILL when the thread that
// forked it ends (a test process killed by ctest, an alarm, a crash), and
// exits now if that already happened before prctl took effect. The parent
// is the forking *thread*: fork from a thread that outlives the child.
// prctl is async-signal-safe, so this is safe in a multithreaded parent's
// child. Not inherited across fork, so a daemon's own children (QEMU) are
// unaffected.
inline void DieWithParentForTest(pid_t parent) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(120);
}

// waitpid(pid) for at most `timeout`. True (and *status set) once it ended;
// false when it still runs at the deadline (the caller kills it).
inline bool WaitPidFor(pid_t pid, int* status, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Polls `done` every 10 ms until it holds or `timeout` passes; its last value.
// Tests wait through this (never an open-ended loop), so a bug fails the test
// with a message instead of hanging until ctest's timeout.
template <typename Pred>
bool PollUntil(Pred done, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Cleans up after a test process that died without running its destructors
// (killed by ctest's timeout, a crash, SIGKILL). It starts a small shell that
// holds the read end of a pipe only this process writes; when the pipe
// reports EOF without "done" first (the test process is gone), the shell
// SIGKILLs every process whose command line mentions `marker` (a unique temp
// path, e.g. a daemon's --root, which its QEMUs' disk paths also contain),
// runs the registered cleanup commands, and removes `marker`. A daemon or QEMU
// the test kills and restarts on purpose is not affected: the reaper acts only
// once the test process itself is gone.
//
// The shell's stdin is the pipe, its stdout/stderr /dev/null and every other
// descriptor is closed, so it never holds ctest's output pipes open.
// Thread-safety: not thread-safe; use from the thread that owns the resources.
class ReaperForTest {
 public:
  explicit ReaperForTest(const std::string& marker) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    static const char kScript[] =
        "ok=; cmds=\n"
        "while IFS= read -r line; do\n"
        "  case $line in done) ok=1;; *) cmds=\"$cmds$line\n\";; esac\n"
        "done\n"
        "[ -n \"$ok\" ] && exit 0\n"
        "for p in /proc/[0-9]*; do\n"
        "  n=${p#/proc/}; [ \"$n\" = $$ ] && continue\n"
        "  grep -qsF -- \"$1\" \"$p/cmdline\" && kill -KILL \"$n\" 2>/dev/null\n"
        "done\n"
        "printf '%s' \"$cmds\" | while IFS= read -r c; do [ -n \"$c\" ] && sh -c \"$c\"; done\n"
        "rm -rf -- \"$1\"\n";
    pid_t pid = ::fork();
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_RDWR);
      if (::dup2(fds[0], 0) < 0 || devnull < 0 || ::dup2(devnull, 1) < 0 || ::dup2(devnull, 2) < 0) {
        ::_exit(126);
      }
      ::close_range(3, ~0U, 0);
      ::setsid();  // out of the test's process group: a group kill must not end it early
      ::execl("/bin/sh", "sh", "-c", kScript, "warren-test-reaper", marker.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[0]);
    if (pid < 0) {
      ::close(fds[1]);
      return;
    }
    pid_ = pid;
    fd_ = fds[1];
  }
  // The test cleaned up itself: the reaper exits without acting.
  ~ReaperForTest() {
    if (fd_ < 0) return;
    Send("done");
    ::close(fd_);
    int status;
    if (!WaitPidFor(pid_, &status, std::chrono::seconds(10))) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  ReaperForTest(const ReaperForTest&) = delete;
  ReaperForTest& operator=(const ReaperForTest&) = delete;

  // A shell command (one line) to run after the kills, e.g. deleting a netns.
  void AddCleanup(const std::string& command) { Send(command); }

 private:
  void Send(const std::string& line) {
    std::string l = line + "\n";
    ssize_t ignored = ::write(fd_, l.data(), l.size());
    (void)ignored;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace warren

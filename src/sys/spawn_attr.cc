#include "sys/spawn_attr.h"

#include <fcntl.h>
#include <signal.h>

#include <algorithm>

#include "sys/unique_fd.h"

extern char** environ;

namespace warren {

void SetChildGroupAndDefaultSignals(posix_spawnattr_t* attr) {
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setflags(attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(attr, 0);
  posix_spawnattr_setsigmask(attr, &empty);
  posix_spawnattr_setsigdefault(attr, &all);
}

Result<pid_t> SpawnLogged(const std::string& program, const std::vector<std::string>& argv,
                          int log_fd, const std::vector<ChildFd>& fds) {
  // The dup2s run in order: a source that is an earlier target would be
  // overwritten before it is copied, so such a source is copied high first.
  int highest = 2;
  for (const ChildFd& c : fds) highest = std::max(highest, c.child_fd);
  std::vector<UniqueFd> moved;
  std::vector<ChildFd> plan = fds;
  for (ChildFd& c : plan) {
    if (c.fd <= highest && c.fd != c.child_fd) {
      int high = ::fcntl(c.fd, F_DUPFD_CLOEXEC, highest + 1);
      if (high < 0) return ErrnoError("dup a descriptor for " + program, errno);
      moved.emplace_back(high);
      c.fd = high;
    }
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  // stdin last: a daemon started with fd 0 closed may hold the log there.
  posix_spawn_file_actions_adddup2(&fa, log_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, log_fd, 2);
  // dup2 clears close-on-exec on the target (glibc also does so when both are equal).
  for (const ChildFd& c : plan) posix_spawn_file_actions_adddup2(&fa, c.fd, c.child_fd);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, highest + 1);

  SetChildGroupAndDefaultSignals(&attr);

  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, program.c_str(), &fa, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return ErrnoError("spawn " + program, rc);
  return pid;
}

}  // namespace warren

#include "sys/spawn_attr.h"

#include <fcntl.h>
#include <signal.h>

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
                          int log_fd, int fd, int child_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  // stdin last: a daemon started with fd 0 closed may hold the log there.
  posix_spawn_file_actions_adddup2(&fa, log_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, log_fd, 2);
  // dup2 clears close-on-exec on the target (glibc also does so when both are equal).
  if (fd >= 0) posix_spawn_file_actions_adddup2(&fa, fd, child_fd);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, fd >= 0 ? child_fd + 1 : 3);

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

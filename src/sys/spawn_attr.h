#pragma once

#include <spawn.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "base/status.h"

namespace warren {

// Sets `attr` (already posix_spawnattr_init'ed) so the child starts in its own
// process group (killable as a group, deaf to the terminal's Ctrl-C) with an
// empty signal mask and every signal at its default disposition, whatever the
// spawning daemon thread had blocked or ignored.
void SetChildGroupAndDefaultSignals(posix_spawnattr_t* attr);

// Starts a long-lived helper process of a VM (QEMU, virtiofsd): posix_spawn
// (safe in the threaded daemon) of `program` (a path) with argv, in its own
// process group with default signals, stdin on /dev/null, stdout and stderr
// on `log_fd`, each of `fds` placed at its child number (> 2; a source fd
// that is another's target is moved out of the way first) and every other
// descriptor closed. The caller owns the child: it reaps it.
struct ChildFd {
  int fd;        // the daemon's descriptor (borrowed)
  int child_fd;  // where the child finds it
};
Result<pid_t> SpawnLogged(const std::string& program, const std::vector<std::string>& argv,
                          int log_fd, const std::vector<ChildFd>& fds = {});

}  // namespace warren

#pragma once

#include <spawn.h>

namespace warren {

// Sets `attr` (already posix_spawnattr_init'ed) so the child starts in its own
// process group (killable as a group, deaf to the terminal's Ctrl-C) with an
// empty signal mask and every signal at its default disposition, whatever the
// spawning daemon thread had blocked or ignored.
void SetChildGroupAndDefaultSignals(posix_spawnattr_t* attr);

}  // namespace warren

#pragma once

// `warren cp`: one copy, host ↔ guest, over one guest command with a byte
// stream each way (the daemon's vm.exec; a local `sh` in tests). The guest
// runs cp_plan's script; the host decides placement by docker cp's rules and
// runs libarchive (cp_archive) on its side of the pipe.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cli/cp_plan.h"

namespace warren::cli::cp {

// How the copy runs its guest command: argv with stdin read from `stdin_fd`
// (EOF when it is closed), stdout/stderr handed to `on_output` (channel 1 or
// 2; false = stop the command). Returns the exit code, -1 if killed.
struct GuestRun {
  std::vector<std::string> argv;
  int stdin_fd = -1;
  std::function<bool(uint8_t channel, std::string_view bytes)> on_output;
};
using GuestExec = std::function<Result<int>(const GuestRun& run)>;

struct CopyOptions {
  bool recursive = false;
  bool progress = false;  // draw a bar on stderr (the caller checked it is a terminal)
};

// Copies plan.sources (host paths, or "-": a tar on our stdin) to plan.dst in
// the guest.
Status CopyToGuest(const GuestExec& exec, const Plan& plan, const CopyOptions& o);
// Copies plan.sources (guest paths) to plan.dst on the host (or "-": a tar on
// our stdout).
Status CopyFromGuest(const GuestExec& exec, const Plan& plan, const CopyOptions& o);

}  // namespace warren::cli::cp

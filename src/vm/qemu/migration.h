#pragma once

#include <chrono>
#include <functional>

#include "base/status.h"
#include "vm/qemu/qmp.h"

namespace warren {

// Snapshots through QEMU's migration stream to a file descriptor.
//
// Why a descriptor: QEMU runs with `-sandbox on,spawn=deny` as an unprivileged
// user, so `exec:` migration (a spawned helper) is impossible and QEMU may not
// be able to open files under the daemon's root. The daemon opens the file and
// hands QEMU a duplicate over the QMP socket (`getfd`, SCM_RIGHTS), then
// migrates to/from `fd:NAME`. Both calls are bounded by `timeout`; progress
// gets the fraction of RAM transferred so far.
//
// Thread-safety: as QmpClient (one thread at a time per connection).

// Where a saved state keeps guest RAM. kInState: in the stream, whatever the
// VM's RAM is. kApart: left out; the saving QEMU's RAM is a shared file
// (VmSpec::ram_file, ram_shared) that holds it in place, and the loading
// QEMU maps that file (private). This is QEMU's x-ignore-shared capability;
// it changes the stream's format, so both sides set it alike, and it is set
// on every save and load (a QEMU keeps it from one to the next).
enum class GuestRam { kInState, kApart };

// Pauses the guest (`stop`: the snapshot's instant), then writes its RAM and
// device state to `fd` (borrowed, opened for writing). On success QEMU is in
// "postmigrate": paused, its block devices flushed and inactive until `cont`
// (Resume), so the disk may be copied meanwhile. On failure the guest is
// resumed if it had been running.
Status SaveStateToFd(QmpClient& qmp, int fd, GuestRam ram, std::chrono::milliseconds timeout,
                     const std::function<void(double)>& progress = nullptr);

// For a QEMU started with `-S -incoming defer` (VmSpec::incoming): loads the
// state from `fd` (borrowed, opened for reading). The guest stays paused.
Status LoadStateFromFd(QmpClient& qmp, int fd, GuestRam ram, std::chrono::milliseconds timeout);

// `cont`: runs a paused guest.
Status ResumeGuest(QmpClient& qmp);

}  // namespace warren

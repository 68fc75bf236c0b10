#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string_view>

#include "base/status.h"
#include "net/mac.h"
#include "net/tap_device.h"
#include "vm/qemu/argv.h"
#include "vm/qemu/migration.h"
#include "vm/qemu/process.h"

namespace warren {

// One running hypervisor process for a VM. Stop/Kill/pid are called by one
// thread at a time (the VM manager holds the VM's lock around them).
// Destroying it stops watching; the process keeps running (so a restarted
// daemon can adopt it).
class VmProcess {
public:
  virtual ~VmProcess() = default;
  virtual pid_t pid() const = 0;
  // Graceful power-down, then SIGKILL after `graceful_timeout`. OK once it is
  // gone.
  virtual Status Stop(std::chrono::milliseconds graceful_timeout) = 0;
  // SIGKILL now and wait for the process to end.
  virtual Status Kill() = 0;
  // Snapshots (vm/qemu/migration.h). SaveState pauses the guest and writes its
  // device state, and its RAM unless `ram` is kApart, to `fd` (borrowed); the
  // guest stays paused and its disk quiet until Resume. LoadState is for a
  // process launched with VmSpec::incoming: reads the state from `fd` (saved
  // with the same `ram`); the guest stays paused.
  virtual Status SaveState(int fd, GuestRam ram, std::chrono::milliseconds timeout) = 0;
  virtual Status LoadState(int fd, GuestRam ram, std::chrono::milliseconds timeout) = 0;
  virtual Status Resume() = 0;
};

// The seam between the VM manager and QEMU. `on_exit` is called once, on a
// thread of the implementation's choosing with no warren lock held, when the
// process ends (QemuExit says whether a stop was requested). It must not
// destroy the VmProcess. Implementations are thread-safe.
class Hypervisor {
public:
  virtual ~Hypervisor() = default;
  // Starts the VM described by `spec`; `tap_fd` is the daemon's open TAP fd
  // and `ram_fd` its guest RAM (-1: none; QemuLaunch), both borrowed;
  // `output_log` gets the hypervisor's own stdout/stderr.
  virtual Result<std::unique_ptr<VmProcess>>
  Launch(const VmSpec &spec, int tap_fd, int ram_fd,
         const std::filesystem::path &output_log, QemuExitCallback on_exit) = 0;
  // Reconnects to a process left by an earlier daemon. NotFound when it is gone
  // (or the pid now names something else).
  virtual Result<std::unique_ptr<VmProcess>>
  Adopt(pid_t pid, const std::filesystem::path &qmp_socket,
        QemuExitCallback on_exit) = 0;
};

// The real Hypervisor: QemuProcess (vm/qemu/process.h).
class QemuHypervisor final : public Hypervisor {
public:
  explicit QemuHypervisor(
      std::chrono::milliseconds qmp_timeout = std::chrono::seconds(10))
      : qmp_timeout_(qmp_timeout) {}
  Result<std::unique_ptr<VmProcess>>
  Launch(const VmSpec &spec, int tap_fd, int ram_fd,
         const std::filesystem::path &output_log,
         QemuExitCallback on_exit) override;
  Result<std::unique_ptr<VmProcess>>
  Adopt(pid_t pid, const std::filesystem::path &qmp_socket,
        QemuExitCallback on_exit) override;

private:
  const std::chrono::milliseconds qmp_timeout_;
};

// Where VMs get their TAPs. Thread-safe.
class TapSource {
public:
  virtual ~TapSource() = default;
  // A TAP on the VM bridge whose guest side will use `guest_mac`.
  virtual Result<Tap> Take(const MacAddress &guest_mac) = 0;
  // Destroys a TAP; idempotent (a missing TAP is fine).
  virtual Status Release(std::string_view name) = 0;
  // Sets a taken TAP's host side down or up. While it is down, every frame
  // the guest sends is dropped before the bridge sees it: a clone is
  // re-identified behind a down TAP, so not one frame of its parent's
  // identity (already queued in its NIC or not) reaches another machine.
  virtual Status SetUp(std::string_view name, bool up) = 0;
};

} // namespace warren

#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "sys/unique_fd.h"
#include "vm/qemu/argv.h"
#include "vm/qemu/qmp.h"

namespace warren {

// How a QEMU process ended.
struct QemuExit {
  // False for an adopted QEMU that is not this daemon's child: the kernel
  // hands its exit status to its new parent, so only "it is gone" is known.
  bool status_known = false;
  int exit_code = -1;           // when status_known and it exited normally
  int term_signal = 0;          // when status_known and a signal killed it
  bool stop_requested = false;  // Stop() or Kill() was called before it ended
};

// Called once, on the watcher thread, when the process ends (on its own or
// after Stop/Kill). No warren lock is held. It must not destroy the
// QemuProcess that called it (the destructor joins that thread).
using QemuExitCallback = std::function<void(const QemuExit&)>;

// argv of a live process, or nullopt if it is gone or unreadable.
std::optional<std::vector<std::string>> ProcCmdline(pid_t pid);

struct QemuLaunch {
  VmSpec spec;
  // The daemon's open TAP fd, borrowed (not closed). Placed at spec.tap_fd
  // (which must be kQemuTapFd) in QEMU; -1 together with spec.tap_fd = -1.
  int tap_fd = -1;
  // Guest RAM as a descriptor (borrowed), placed at kQemuRamFd: then
  // spec.ram_file must be kQemuRamFdPath. -1 = none.
  int ram_fd = -1;
  std::filesystem::path output_log;  // QEMU's stdout and stderr, appended (required)
  // How long QEMU may take to answer on its QMP socket after exec.
  std::chrono::milliseconds qmp_timeout{10000};
};

// One running QEMU: its pid, a pidfd that names it without pid-reuse races, a
// QMP connection and a watcher thread that notices when it exits.
//
// Launch runs QEMU in its own process group with stdin on /dev/null,
// stdout/stderr on output_log, the TAP at spec.tap_fd, RAM at kQemuRamFd and every other
// descriptor closed (posix_spawn + closefrom, safe in the threaded daemon).
// QEMU outlives this object: destroying a QemuProcess stops watching but does
// not stop QEMU, so a restarted daemon can Adopt it. (A still-running child
// of a daemon that keeps running and drops the handle becomes a zombie on exit;
// the VM layer keeps the handle until the exit callback has run.)
//
// Thread-safety: pid(), exited(), exit_info() and WaitForExit() may be called
// from any thread. QueryStatus(), Stop(), Kill() and qmp() use the one QMP
// connection and must be called by one thread at a time (the VM's lock
// serializes them). The exit state is guarded by mu_, a leaf lock never held
// across I/O or the callback.
class QemuProcess {
 public:
  // Validates the spec, starts QEMU and connects to QMP. If QEMU exits or
  // stays silent on QMP within qmp_timeout, it is killed and the error quotes
  // the end of output_log. Errors: InvalidArgument (spec), NotFound (binary),
  // DeadlineExceeded/Unavailable (QMP), Internal.
  static Result<std::unique_ptr<QemuProcess>> Launch(const QemuLaunch& launch,
                                                     QemuExitCallback on_exit);

  // Takes over a QEMU recorded by an earlier daemon: checks that `pid` is alive
  // and that /proc/PID/cmdline is a qemu-system binary serving `qmp_socket`
  // (so a reused pid is never mistaken for the VM), then reconnects to QMP.
  // NotFound when the process is gone or is not that QEMU: the VM is dead.
  // Unavailable when it is that QEMU but QMP does not answer within qmp_timeout.
  static Result<std::unique_ptr<QemuProcess>> Adopt(pid_t pid,
                                                    const std::filesystem::path& qmp_socket,
                                                    QemuExitCallback on_exit,
                                                    std::chrono::milliseconds qmp_timeout);

  // Stops the watcher thread (waiting for a running callback); QEMU keeps running.
  ~QemuProcess();
  QemuProcess(const QemuProcess&) = delete;
  QemuProcess& operator=(const QemuProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool exited() const EXCLUDES(mu_);
  std::optional<QemuExit> exit_info() const EXCLUDES(mu_);
  // True once the process has ended; false if it still runs after `timeout`.
  bool WaitForExit(std::chrono::milliseconds timeout) EXCLUDES(mu_);

  Result<QmpStatus> QueryStatus();
  // Graceful stop: ACPI power button over QMP, up to graceful_timeout for the
  // guest to power off, then SIGKILL. OK once the process is gone (also when
  // it already was). Internal if it survives SIGKILL for 10 s.
  Status Stop(std::chrono::milliseconds graceful_timeout) EXCLUDES(mu_);
  // SIGKILL now and wait (up to 10 s) for the process to end.
  Status Kill() EXCLUDES(mu_);
  // The QMP connection, for commands not wrapped here. Owned by this object.
  QmpClient& qmp() { return *qmp_; }

 private:
  QemuProcess(pid_t pid, UniqueFd pidfd, bool is_child, QemuExitCallback on_exit);

  void StartWatcher();
  void Watch();
  QemuExit Reap() EXCLUDES(mu_);
  void MarkStopRequested() EXCLUDES(mu_);

  // Immutable after construction.
  const pid_t pid_;
  const UniqueFd pidfd_;
  const bool is_child_;  // launched by this process, so waitid() yields the status
  const QemuExitCallback on_exit_;
  UniqueFd wake_;  // eventfd; written by the destructor to end Watch()
  std::thread watcher_;

  // Used by one thread at a time (see class comment); never by the watcher.
  std::unique_ptr<QmpClient> qmp_;

  mutable Mutex mu_{LockRank::kLeaf, "qemu_process"};
  CondVar exit_cv_{&mu_};
  std::optional<QemuExit> exit_ GUARDED_BY(mu_);
  bool stop_requested_ GUARDED_BY(mu_) = false;
};

}  // namespace warren

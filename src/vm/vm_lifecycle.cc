// Boot and halt of one VM (both under the VM's lock), the hypervisor exit
// callback, and the process-handle table.
#include <csignal>
#include <atomic>
#include <stop_token>
#include <fstream>
#include <sstream>
#include <system_error>

#include "vm/console_log.h"
#include "vm/vm_manager.h"
#include <spdlog/spdlog.h>

namespace warren {
namespace {

Result<std::string> ReadFirstLine(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return FailedPrecondition("cannot read " + path.string() +
                              "; recreate the VM");
  }
  return line;
}

} // namespace

Status VmManager::Save(const VmRecord &vm) {
  RETURN_IF_ERROR(
      deps_.store->Transaction([&](Tx &tx) { return tx.UpdateVm(vm); }));
  if (deps_.hooks.changed)
    deps_.hooks.changed(vm);
  if (vm.state == VmState::kCreating && deps_.hooks.create_step)
    deps_.hooks.create_step(vm.name, vm.step);
  return Status::Ok();
}

void VmManager::RotateLog(const std::filesystem::path &log) const {
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(log, ec);
  if (ec || size <= options_.log_cap_bytes)
    return;
  std::filesystem::path old = log;
  old += ".1";
  std::filesystem::rename(log, old, ec); // the previous .1 is replaced
}

std::unique_ptr<VmProcess> VmManager::TakeProcess(const std::string &id) {
  MutexLock lock(&procs_mu_);
  auto it = procs_.find(id);
  if (it == procs_.end())
    return nullptr;
  std::unique_ptr<VmProcess> proc = std::move(it->second);
  procs_.erase(it);
  return proc;
}

void VmManager::PutProcess(const std::string &id,
                           std::unique_ptr<VmProcess> proc) {
  std::unique_ptr<VmProcess> old;
  {
    MutexLock lock(&procs_mu_);
    old = std::exchange(procs_[id], std::move(proc));
  }
  // `old` (an exited process's handle) is destroyed here, outside the leaf
  // lock: its destructor joins a watcher thread.
}

VmSpec VmManager::SpecOf(const VmRecord &vm, const ImageBoot &image) const {
  VmSpec spec;
  spec.name = vm.name;
  spec.accel = options_.accel;
  spec.cpus = static_cast<int>(vm.cpus);
  spec.memory_mib = static_cast<int>(vm.memory_mib);
  spec.qemu_binary = options_.qemu_binary;
  spec.tcg_tb_mib = options_.tcg_tb_mib;
  spec.kernel = image.kernel;
  spec.initrd = image.initrd;
  spec.cmdline = image.cmdline;
  spec.disk = Dir(vm) / "disk.qcow2";
  spec.seed = Dir(vm) / "seed.iso";
  spec.tap_fd = kQemuTapFd;
  spec.mac = vm.mac;
  spec.serial_log = Dir(vm) / "serial.log";
  spec.qmp_socket = QmpSocket(vm);
  spec.agent_socket = AgentSocket(vm);
  spec.pid_file = Dir(vm) / "qemu.pid";
  spec.run_as = options_.run_as;
  spec.oom_score_adj = options_.qemu_oom_score_adj;
  return spec;
}

Status VmManager::Boot(VmRecord &vm, std::stop_token stop, OpContext *ctx,
                       const ResumeFrom *resume) {
  auto progress = [&](const char *step, double fraction) {
    if (ctx != nullptr)
      ctx->Progress(step, fraction);
  };
  const bool creating = vm.state == VmState::kCreating;
  ASSIGN_OR_RETURN(ImageBoot image, deps_.images(vm.image));
  ASSIGN_OR_RETURN(std::string host_key,
                   ReadFirstLine(Dir(vm) / "host_key.pub"));
  if (std::unique_ptr<VmProcess> old = TakeProcess(vm.id))
    (void)old->Kill();
  // A previous boot whose exit ExitWorker has not handled yet.
  StopCaps(vm);
  if (!vm.tap.empty()) {
    RETURN_IF_ERROR(deps_.taps->Release(vm.tap));
    vm.tap.clear();
  }
  RotateLog(Dir(vm) / "serial.log");
  RotateLog(Dir(vm) / "qemu.log");

  progress("take TAP", 0.5);
  ASSIGN_OR_RETURN(MacAddress mac, ParseMac(vm.mac));
  ASSIGN_OR_RETURN(Tap tap, deps_.taps->Take(mac));
  vm.tap = tap.name;
  // A clone resumes as its parent: not one frame of it may reach the bridge
  // before it is re-identified (ResumeSaved sets the TAP up again).
  Status gated = resume != nullptr && resume->identity != nullptr
                     ? deps_.taps->SetUp(tap.name, false)
                     : Status::Ok();
  vm.pid = 0;
  vm.started_ms = 0;
  if (creating) {
    vm.step = "tap";
  } else {
    vm.state = VmState::kStarting;
  }
  RETURN_IF_ERROR(Save(vm)); // the TAP is recorded: a failure below releases it
  RETURN_IF_ERROR(gated.Annotate("set the TAP of " + vm.name + " down"));
  if (stop.stop_requested())
    return Cancelled("booting VM \"" + vm.name + "\" was cancelled");

  progress("launch", 0.6);
  VmSpec spec = SpecOf(vm, image);
  spec.incoming = resume != nullptr;
  if (resume != nullptr && !resume->seed.empty())
    spec.seed = resume->seed;
  RETURN_IF_ERROR(ContributeQemu(vm, spec).Annotate("QEMU command line of " + vm.name));
  // A snapshot's RAM apart from its state: mapped copy-on-write from a
  // sealed memfd that every clone of it shares (snapshot_ram.h).
  std::shared_ptr<const UniqueFd> ram;
  if (resume != nullptr && !resume->ram.empty()) {
    ASSIGN_OR_RETURN(ram, ram_cache_.Get(resume->ram));
    spec.ram_file = kQemuRamFdPath;
    spec.ram_shared = false;
  }
  // The exit callback learns the pid through this cell; an exit before it is
  // set is caught by Launch itself (QEMU must answer QMP first). `exited`
  // ends the wait for SSH at once when QEMU dies during boot.
  auto pid_cell = std::make_shared<std::atomic<pid_t>>(0);
  auto exited = std::make_shared<std::stop_source>();
  ASSIGN_OR_RETURN(std::unique_ptr<VmProcess> proc,
                   deps_.hypervisor->Launch(
                       spec, tap.fd.get(), ram ? ram->get() : -1, Dir(vm) / "qemu.log",
                       [this, id = vm.id, pid_cell, exited](const QemuExit &exit) {
                         OnExit(id, pid_cell->load(), exit);
                         exited->request_stop();
                       }));
  pid_cell->store(proc->pid());
  vm.pid = proc->pid();
  // Kept across daemon restarts (adoption reads it back): uptime is exact.
  vm.started_ms = deps_.clock->NowUnixMillis();
  if (creating)
    vm.step = "launch";
  VmProcess *launched = proc.get(); // ours until the VM's lock is released
  PutProcess(vm.id, std::move(proc));
  RETURN_IF_ERROR(Save(vm));
  if (resume != nullptr) {
    RETURN_IF_ERROR(ResumeSaved(vm, *launched, *resume, progress)
                        .Annotate((resume->identity ? "clone VM " : "restore VM ") + vm.name));
  }

  progress("wait for SSH", 0.8);
  GuestTarget endpoint{vm.name, vm.ip, 22, host_key};
  std::stop_source waiting;
  std::stop_callback on_cancel(stop, [&waiting] { waiting.request_stop(); });
  std::stop_callback on_exit(exited->get_token(),
                             [&waiting] { waiting.request_stop(); });
  Status ready = deps_.wait_for_ssh(
      endpoint, std::chrono::steady_clock::now() + options_.ssh_timeout,
      waiting.get_token());
  if (!ready.ok() && exited->stop_requested()) {
    // OnExit recorded why; an OOM kill is worth saying rather than "exited".
    Result<VmRecord> now = deps_.store->GetVm(vm.id);
    const bool oom = now.ok() && now->error == kOomKilledError;
    return BootFailure(vm, creating,
                       Unavailable("QEMU of VM \"" + vm.name + "\" " +
                                   (oom ? std::string(kOomKilledError).substr(5)
                                        : "exited") +
                                   " while the guest was booting"));
  }
  if (!ready.ok() && ready.code() != Code::kCancelled)
    return BootFailure(vm, creating, ready.Annotate("wait for SSH on " + vm.name));
  RETURN_IF_ERROR(ready.Annotate("wait for SSH on " + vm.name));
  // Before "running": a capability that cannot serve the VM fails the boot
  // (the caller stops what did start: StopCaps / RollbackCreate).
  RETURN_IF_ERROR(ReadyCaps(vm, /*adopted=*/false));
  // Running only if QEMU did not exit meanwhile (its callback zeroes the pid).
  RETURN_IF_ERROR(deps_.store->Transaction([&](Tx &tx) -> Status {
    ASSIGN_OR_RETURN(VmRecord now, tx.GetVm(vm.id));
    if (now.pid != vm.pid) {
      return BootFailure(vm, creating,
                         Unavailable("QEMU of VM \"" + vm.name +
                                     "\" exited during boot"));
    }
    vm.state = VmState::kRunning;
    vm.step = creating ? "ready" : vm.step;
    vm.error.clear();
    return tx.UpdateVm(vm);
  }));
  if (deps_.hooks.changed)
    deps_.hooks.changed(vm);
  return Status::Ok();
}

Status VmManager::BootFailure(const VmRecord &vm, bool creating,
                              const Status &st) const {
  // A failed create is rolled back and its directory removed, but
  // RollbackCreate keeps the log at FailedLogPath first; a failed start
  // leaves it where `warren vm logs` reads it.
  std::filesystem::path log = Dir(vm) / "serial.log";
  return WithConsoleLog(st, log, creating ? FailedLogPath(vm) : log);
}

Status VmManager::Halt(VmRecord &vm, bool force,
                       std::chrono::milliseconds timeout, bool keep_memory) {
  if (deps_.hooks.guest_down)
    deps_.hooks.guest_down(vm.name);
  if (std::unique_ptr<VmProcess> proc = TakeProcess(vm.id)) {
    vm.state = VmState::kStopping;
    RETURN_IF_ERROR(Save(vm));
    Status st = force ? proc->Kill() : proc->Stop(timeout);
    if (!st.ok()) {
      PutProcess(vm.id, std::move(proc));
      return st.Annotate("stop VM " + vm.name);
    }
  }
  if (!keep_memory)
    budget_.Release(vm.id);
  StopCaps(vm);
  if (!vm.tap.empty()) {
    RETURN_IF_ERROR(deps_.taps->Release(vm.tap));
    vm.tap.clear();
  }
  vm.pid = 0;
  vm.started_ms = 0;
  vm.state = VmState::kStopped;
  return Save(vm);
}

void VmManager::OnExit(const std::string &id, pid_t pid, const QemuExit &exit) {
  if (pid == 0)
    return;
  // Runs on the hypervisor's watcher thread with no lock held: it never takes a
  // VM lock (Halt holds one while waiting for this very exit), only the
  // store's.
  // A SIGKILL warren did not send: ask the kernel's log whether its OOM killer
  // sent it (outside the store's lock: this reads /dev/kmsg).
  const bool oom = !exit.stop_requested && exit.status_known &&
                   exit.term_signal == SIGKILL && deps_.oom_killed(pid);
  std::string name;
  VmRecord vm;
  bool unexpected = false;
  Status st = deps_.store->Transaction([&](Tx &tx) -> Status {
    Result<VmRecord> found = tx.GetVm(id);
    if (!found.ok())
      return Status::Ok(); // deleted meanwhile
    vm = std::move(*found);
    if (vm.pid != pid)
      return Status::Ok(); // a newer boot, or already handled
    name = vm.name;
    vm.pid = 0;
    vm.started_ms = 0;
    // Not Halt's doing, nor a create's (whose failure rolls back): the
    // capabilities' OnStop must follow, under the VM's lock (ExitWorker).
    unexpected = vm.state != VmState::kCreating && !exit.stop_requested &&
                 vm.state != VmState::kStopping;
    bool clean = exit.stop_requested || vm.state == VmState::kStopping ||
                 (exit.status_known && exit.exit_code == 0);
    if (vm.state != VmState::kCreating)
      vm.state = clean ? VmState::kStopped : VmState::kFailed;
    if (!clean) {
      vm.error =
          oom ? std::string(kOomKilledError)
          : exit.term_signal != 0
              ? "QEMU was killed by signal " + std::to_string(exit.term_signal)
              : "QEMU exited with code " + std::to_string(exit.exit_code);
    }
    return tx.UpdateVm(vm);
  });
  if (!st.ok())
    spdlog::error("vm {}: record QEMU exit: {}", id, st.ToString());
  else if (!name.empty() && deps_.hooks.changed)
    deps_.hooks.changed(vm);
  if (oom && !name.empty()) {
    spdlog::error("vm {}: QEMU pid {} {}", name, pid, kOomKilledError);
    if (deps_.hooks.oom_killed)
      deps_.hooks.oom_killed(vm);
  }
  if (unexpected)
    QueueExited(id);
  if (!name.empty() && deps_.hooks.guest_down)
    deps_.hooks.guest_down(name);
}

Result<std::set<std::string>> VmManager::Recover() {
  RETURN_IF_ERROR(RemoveUnrecordedSnapshots());
  ASSIGN_OR_RETURN(std::vector<VmRecord> vms, deps_.store->ListVms());
  std::set<std::string> owned;
  for (VmRecord &vm : vms) {
    std::shared_ptr<VmLock> vm_lock = vm_locks_.For(vm.id);
    vm_lock->Lock("daemon start (recover)");
    VmLockHold hold(vm_lock.get());
    if (vm.state == VmState::kCreating) {
      spdlog::info("vm {}: rolling back a create interrupted at \"{}\"",
                   vm.name, vm.step);
      RollbackCreate(vm);
      continue;
    }
    if (IsLive(vm.state) && vm.pid > 0) {
      auto pid_cell =
          std::make_shared<std::atomic<pid_t>>(static_cast<pid_t>(vm.pid));
      Result<std::unique_ptr<VmProcess>> proc = deps_.hypervisor->Adopt(
          static_cast<pid_t>(vm.pid), QmpSocket(vm),
          [this, id = vm.id, pid_cell](const QemuExit &exit) {
            OnExit(id, pid_cell->load(), exit);
          });
      if (proc.ok()) {
        // A daemon killed while snapshotting leaves its guest paused: warren
        // has no paused state, so an adopted guest runs (`cont` on a running
        // one does nothing).
        if (Status resumed = (*proc)->Resume(); !resumed.ok())
          spdlog::warn("vm {}: resume adopted guest: {}", vm.name, resumed.ToString());
        PutProcess(vm.id, std::move(*proc));
        // Already running: counted even beyond a budget lowered meanwhile.
        budget_.Hold(vm.id, static_cast<uint64_t>(vm.memory_mib));
        vm.state = VmState::kRunning;
        // What the previous daemon's capabilities served died with it. A
        // failure leaves the VM running, its error recorded and logged.
        if (Status caps = ReadyCaps(vm, /*adopted=*/true); !caps.ok()) {
          spdlog::error("vm {}: {}", vm.name, caps.ToString());
          vm.error = caps.ToString();
        }
        RETURN_IF_ERROR(Save(vm));
        if (!vm.tap.empty())
          owned.insert(vm.tap);
        continue;
      }
      spdlog::warn("vm {}: QEMU pid {} not adopted: {}", vm.name, vm.pid,
                   proc.error().ToString());
    }
    // Not running now: whatever a capability left for it (rules on its TAP,
    // say) goes before the TAP does. OnStop is idempotent.
    StopCaps(vm, /*always=*/true);
    if (!vm.tap.empty()) {
      Status st = deps_.taps->Release(vm.tap);
      if (!st.ok())
        spdlog::warn("vm {}: release {}: {}", vm.name, vm.tap, st.ToString());
      vm.tap.clear();
    }
    if (IsLive(vm.state))
      vm.state = VmState::kStopped;
    vm.pid = 0;
    vm.started_ms = 0;
    RETURN_IF_ERROR(Save(vm));
  }
  return owned;
}

} // namespace warren

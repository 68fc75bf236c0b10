#include "vm/vm_manager.h"

#include <system_error>

#include "base/check.h"
#include "sys/files.h"
#include <spdlog/spdlog.h>

namespace warren {
namespace {

Status BeingCreated(const VmRecord &vm) {
  return FailedPrecondition(
      "VM \"" + vm.name +
      "\" is being created; wait for it or cancel its op (`warren op ls`)");
}

} // namespace

nlohmann::json VmRecordToJson(const VmRecord &vm) {
  nlohmann::json j{{"id", vm.id},
                   {"name", vm.name},
                   {"image", vm.image},
                   {"cpus", vm.cpus},
                   {"memory_mib", vm.memory_mib},
                   {"disk_gib", vm.disk_gib},
                   {"state", VmStateName(vm.state)},
                   {"step", vm.step},
                   {"ip", vm.ip},
                   {"mac", vm.mac},
                   {"created_ms", vm.created_ms},
                   {"started_ms", vm.started_ms},
                   {"error", vm.error}};
  if (!vm.snapshot.empty())
    j["snapshot"] = vm.snapshot; // a clone: the snapshot it was made from
  return j;
}

Result<std::unique_ptr<VmManager>> VmManager::Create(VmManagerOptions options,
                                                     VmManagerDeps deps) {
  CHECK(deps.store && deps.ops && deps.runner && deps.hypervisor && deps.taps &&
        deps.clock && deps.images && deps.wait_for_ssh && deps.caps &&
        deps.oom_killed && deps.connect_agent);
  ASSIGN_OR_RETURN(IpAllocator ips, IpAllocator::Create(options.subnet));
  if (options.failed_logs_dir.empty())
    return InvalidArgument("VmManagerOptions: failed_logs_dir is required");
  if (options.snapshots_dir.empty())
    return InvalidArgument("VmManagerOptions: snapshots_dir is required");
  for (const std::filesystem::path &dir :
       {options.vms_dir, options.run_dir, options.failed_logs_dir, options.snapshots_dir}) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      return Internal("cannot create " + dir.string() + ": " + ec.message());
  }
  return std::unique_ptr<VmManager>(
      new VmManager(std::move(options), std::move(deps), ips));
}

VmManager::VmManager(VmManagerOptions options, VmManagerDeps deps,
                     IpAllocator ips)
    : options_(std::move(options)), deps_(std::move(deps)), ips_(ips),
      budget_(options_.memory_budget_bytes, options_.memory_overhead_bytes),
      exit_worker_([this](std::stop_token stop) { ExitWorker(stop); }) {}

VmManager::~VmManager() {
  std::map<std::string, std::unique_ptr<VmProcess>, std::less<>> procs;
  {
    MutexLock lock(&procs_mu_);
    procs.swap(procs_);
  }
  // Destroyed outside the lock: each joins its watcher thread, whose exit
  // callback may still be writing the store (and queueing for ExitWorker).
  procs.clear();
  exit_worker_.request_stop();
  {
    MutexLock lock(&exited_mu_);
    closing_ = true;
    exited_cv_.SignalAll();
  }
  exit_worker_.join();
}

Status VmManager::WithVmLock(std::string_view name_or_id, std::string holder,
                             const LockWait &wait,
                             const std::function<Status(VmRecord &)> &fn) {
  ASSIGN_OR_RETURN(VmRecord found, deps_.store->GetVm(name_or_id));
  std::shared_ptr<VmLock> vm_lock = vm_locks_.For(found.id);
  const std::string what = holder;
  if (!vm_lock->LockOrCancel(std::move(holder), wait)) {
    const std::string by = vm_lock->holder();
    return Cancelled(what + " on VM \"" + found.name +
                     "\" was cancelled while waiting for " +
                     (by.empty() ? "its lock" : by + " to finish") +
                     "; nothing was changed");
  }
  VmLockHold hold(vm_lock.get());
  // Re-read under the lock: the VM may have changed or gone while we waited.
  ASSIGN_OR_RETURN(VmRecord vm, deps_.store->GetVm(found.id));
  return fn(vm);
}

Status VmManager::WithSettledVmLock(std::string_view name, std::string holder,
                                    const LockWait &wait,
                                    const std::function<Status(VmRecord &)> &fn) {
  // Refused before waiting for the VM's lock, which its create op holds until
  // done, and again under the lock in case a create began meanwhile.
  ASSIGN_OR_RETURN(VmRecord pre, deps_.store->GetVm(name));
  if (pre.state == VmState::kCreating)
    return BeingCreated(pre);
  return WithVmLock(name, std::move(holder), wait, [&](VmRecord &vm) -> Status {
    if (vm.state == VmState::kCreating)
      return BeingCreated(vm);
    return fn(vm);
  });
}

Status VmManager::NotExportingLocked(const VmRecord &vm) {
  MutexLock lock(&exporting_mu_);
  if (!exporting_.contains(vm.id))
    return Status::Ok();
  return FailedPrecondition("VM \"" + vm.name +
                            "\" is being promoted to an image (its disk is "
                            "being copied); wait for `warren image promote` "
                            "to finish or cancel it");
}

Status VmManager::StartLocked(VmRecord &vm, std::stop_token stop) {
  if (IsLive(vm.state)) {
    return FailedPrecondition("VM \"" + vm.name + "\" is already " +
                              std::string(VmStateName(vm.state)));
  }
  RETURN_IF_ERROR(NotExportingLocked(vm));
  // Refused before anything is touched: the VM stays as it was.
  RETURN_IF_ERROR(budget_.Admit(vm.id, "vm start " + vm.name,
                                static_cast<uint64_t>(vm.memory_mib)));
  Status st = Boot(vm, stop, nullptr);
  if (!st.ok())
    LeaveFailedLocked(vm, st, "start");
  return st;
}

void VmManager::LeaveFailedLocked(VmRecord &vm, const Status &st, const char *what) {
  budget_.Release(vm.id);
  // Leave it failed, holding nothing: also what a capability started for a
  // boot that failed before the guest was ready (a share's virtiofsd).
  if (std::unique_ptr<VmProcess> proc = TakeProcess(vm.id))
    (void)proc->Kill();
  StopCaps(vm, /*always=*/true);
  if (!vm.tap.empty() && deps_.taps->Release(vm.tap).ok())
    vm.tap.clear();
  vm.pid = 0;
  vm.started_ms = 0;
  vm.state = VmState::kFailed;
  vm.error = st.ToString();
  Status saved = Save(vm);
  if (!saved.ok())
    spdlog::error("vm {}: record failed {}: {}", vm.name, what, saved.ToString());
}

Status VmManager::StartVM(std::string_view name, const LockWait &wait) {
  return WithSettledVmLock(name, "vm.start", wait, [&](VmRecord &vm) {
    return StartLocked(vm, wait.stop);
  });
}

Status VmManager::StopVM(std::string_view name, bool force,
                         std::chrono::milliseconds timeout,
                         const LockWait &wait) {
  return WithSettledVmLock(name, "vm.stop", wait, [&](VmRecord &vm) {
    return Halt(vm, force, timeout);
  });
}

Status VmManager::RestartVM(std::string_view name,
                            std::chrono::milliseconds timeout,
                            const LockWait &wait) {
  return WithSettledVmLock(name, "vm.restart", wait, [&](VmRecord &vm) {
    RETURN_IF_ERROR(NotExportingLocked(vm));
    // The VM keeps its memory share across the restart: no create can take
    // it between the stop and the boot.
    RETURN_IF_ERROR(Halt(vm, /*force=*/false, timeout, /*keep_memory=*/true));
    return StartLocked(vm, wait.stop);
  });
}

Status VmManager::DeleteVM(std::string_view name, bool force,
                           const LockWait &wait) {
  return WithSettledVmLock(name, "vm.rm", wait, [&](VmRecord &vm) -> Status {
    if (IsLive(vm.state) && !force) {
      return FailedPrecondition("VM \"" + vm.name + "\" is " +
                                std::string(VmStateName(vm.state)) +
                                "; stop it first (`warren vm stop " + vm.name +
                                "`) or use --force");
    }
    RETURN_IF_ERROR(NotExportingLocked(vm));
    if (deps_.hooks.guest_down)
      deps_.hooks.guest_down(vm.name);
    if (std::unique_ptr<VmProcess> proc = TakeProcess(vm.id)) {
      RETURN_IF_ERROR(proc->Kill().Annotate("delete VM " + vm.name));
    }
    budget_.Release(vm.id);
    if (!vm.tap.empty())
      RETURN_IF_ERROR(deps_.taps->Release(vm.tap));
    // Capabilities first: OnDelete works from the stored settings and may
    // keep files in the VM's directory.
    DeleteCaps(vm);
    std::error_code ec;
    std::filesystem::remove_all(Dir(vm), ec);
    if (ec)
      return Internal("cannot remove " + Dir(vm).string() + ": " +
                      ec.message());
    std::filesystem::remove(QmpSocket(vm), ec);
    std::filesystem::remove(AgentSocket(vm), ec);
    // The record and its IP lease go together (the lease is the row's ip).
    RETURN_IF_ERROR(
        deps_.store->Transaction([&](Tx &tx) { return tx.DeleteVm(vm.id); }));
    if (deps_.hooks.removed)
      deps_.hooks.removed(vm.name);
    return Status::Ok();
  });
}

Result<std::vector<VmRecord>> VmManager::List() {
  return deps_.store->ListVms();
}

Result<VmRecord> VmManager::Get(std::string_view name) {
  return deps_.store->GetVm(name);
}

Result<std::filesystem::path> VmManager::LogPath(std::string_view name) {
  ASSIGN_OR_RETURN(VmRecord vm, deps_.store->GetVm(name));
  return Dir(vm) / "serial.log";
}

Status VmManager::ExportDisk(std::string_view name, const PublishDisk &publish,
                             const LockWait &wait) {
  // Under the lock: check, mark exporting, snapshot what the copy needs. The
  // copy itself runs without it; the mark keeps start/restart/rm (the only
  // writers of the disk) away until it is done.
  VmRecord vm;
  ImageBoot boot;
  RETURN_IF_ERROR(WithSettledVmLock(
      name, "image.promote", wait, [&](VmRecord &locked) -> Status {
        if (locked.state != VmState::kStopped &&
            locked.state != VmState::kFailed) {
          return FailedPrecondition(
              "VM \"" + locked.name + "\" is " +
              std::string(VmStateName(locked.state)) +
              "; stop it first (`warren vm stop " + locked.name +
              "`) so its disk is consistent");
        }
        RETURN_IF_ERROR(NotExportingLocked(locked));
        ASSIGN_OR_RETURN(boot, deps_.images(locked.image));
        MutexLock lock(&exporting_mu_);
        exporting_.insert(locked.id);
        vm = locked;
        return Status::Ok();
      }));
  const std::filesystem::path raw = Dir(vm) / "promote.raw";
  RunSpec run;
  run.argv = {"qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw",
              (Dir(vm) / "disk.qcow2").string(), raw.string()};
  run.timeout = std::chrono::minutes(30);
  Status st = RunAndCheck(*deps_.runner, run, wait.stop)
                  .status()
                  .Annotate("flatten the disk of " + vm.name);
  if (st.ok())
    st = publish(vm, boot, raw);
  std::error_code ec;
  std::filesystem::remove(raw, ec);
  MutexLock lock(&exporting_mu_);
  exporting_.erase(vm.id);
  return st;
}

Result<GuestTarget> VmManager::SshTarget(std::string_view name) {
  ASSIGN_OR_RETURN(VmRecord vm, deps_.store->GetVm(name));
  if (vm.state == VmState::kCreating || vm.state == VmState::kStarting) {
    return Unavailable("VM \"" + vm.name + "\" is still booting (" + std::string(VmStateName(vm.state)) +
                       "); wait for it (`warren op ls`) or retry");
  }
  if (vm.state != VmState::kRunning) {
    return FailedPrecondition("VM \"" + vm.name + "\" is not running (" +
                              std::string(VmStateName(vm.state)) + "); start it with `warren vm start " +
                              vm.name + "`");
  }
  ASSIGN_OR_RETURN(std::string host_key,
                   ReadFileToString(Dir(vm) / "host_key.pub"));
  while (!host_key.empty() &&
         (host_key.back() == '\n' || host_key.back() == '\r'))
    host_key.pop_back();
  return GuestTarget{vm.name, vm.ip, 22, host_key};
}

std::vector<ImageUser> VmManager::ImageUsers(std::string_view image) {
  std::vector<ImageUser> users;
  Result<std::vector<VmRecord>> vms = deps_.store->ListVms();
  if (!vms.ok()) {
    // Err on the side of "in use" so an image is never deleted under a VM.
    users.push_back(
        ImageUser{"(unknown: " + vms.error().ToString() + ")", true});
    return users;
  }
  for (const VmRecord &vm : *vms) {
    if (vm.image != image)
      continue;
    users.push_back(
        ImageUser{vm.name, vm.state != VmState::kStopped && vm.state != VmState::kFailed});
  }
  // A snapshot's disk is backed by the image's rootfs: counted as "running"
  // so that not even --force removes the image under it.
  Result<std::vector<SnapshotRecord>> snaps = deps_.store->ListSnapshots();
  if (!snaps.ok()) {
    users.push_back(ImageUser{"(unknown: " + snaps.error().ToString() + ")", true});
    return users;
  }
  for (const SnapshotRecord &snap : *snaps) {
    if (snap.image == image)
      users.push_back(ImageUser{"snapshot " + snap.name, true});
  }
  return users;
}

} // namespace warren

// CreateVM: reservation under createVMMu, then the create steps under the VM's
// own lock, each recorded in the VM's `step` so RollbackCreate (here, or from
// Recover after a crash) can undo them from the record alone.
#include <algorithm>
#include <fstream>
#include <random>
#include <system_error>
#include <vector>

#include "image/seed.h"
#include "vm/vm_manager.h"

#include "sys/files.h"
#include <spdlog/spdlog.h>

namespace warren {
namespace {

Status CheckRequest(const CreateRequest &r) {
  RETURN_IF_ERROR(ValidateVmName(r.name));
  if (r.cpus < 1 || r.cpus > 64) {
    return InvalidArgument("cpus must be 1..64, got " + std::to_string(r.cpus));
  }
  if (r.memory_mib < 64 || r.memory_mib > 1048576) {
    return InvalidArgument("memory must be 64..1048576 MiB, got " +
                           std::to_string(r.memory_mib));
  }
  if (r.disk_gib < 1 || r.disk_gib > 16384) {
    return InvalidArgument("disk must be 1..16384 GiB, got " +
                           std::to_string(r.disk_gib));
  }
  return Status::Ok();
}

} // namespace

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    out += kHex[v >> 4];
    out += kHex[v & 0xf];
  }
  return out;
}

Status ValidateVmName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && name.front() != '-' &&
            name.back() != '-';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (ok && name == "ns") {
    return InvalidArgument("VM name \"ns\" is reserved for the DNS zone's name "
                           "server; choose another name");
  }
  if (ok)
    return Status::Ok();
  return InvalidArgument(
      "VM name \"" + std::string(name) +
      "\" is not a DNS label: use 1-63 of a-z, 0-9 and '-', not at either end");
}

Result<std::string> VmManager::CreateVM(const CreateRequest &asked) {
  CreateRequest request = asked;
  ASSIGN_OR_RETURN(VmRecord vm, AdmitAndReserve(request));
  Result<std::string> op = deps_.ops->Start(
      "vm.create", vm.name,
      [this, id = vm.id](OpContext &ctx) { return RunCreate(id, ctx); });
  if (!op.ok())
    RollbackCreate(vm);
  return op;
}

Result<VmRecord> VmManager::AdmitAndReserve(CreateRequest &request) {
  if (!request.from_snapshot.empty())
    RETURN_IF_ERROR(CloneShape(request));
  RETURN_IF_ERROR(CheckRequest(request));
  // Outside createVMMu: the image registry takes imageOpsMu, a lock of the same
  // rank.
  RETURN_IF_ERROR(deps_.images(request.image).status());
  // Before the name is reserved: a refused capability leaves nothing behind.
  ASSIGN_OR_RETURN(CapList caps, ValidateCaps(request));
  // Memory first, before the name or anything else is reserved or written: a
  // refused create leaves nothing behind. The share goes with the VM's id.
  const std::string id = "vm-" + RandomHex(5);
  RETURN_IF_ERROR(budget_.Admit(id, "vm create " + request.name,
                                static_cast<uint64_t>(request.memory_mib)));
  Result<VmRecord> reserved = Reserve(id, request, caps);
  if (!reserved.ok())
    budget_.Release(id);
  return reserved;
}

Result<VmRecord> VmManager::Reserve(const std::string &id,
                                    const CreateRequest &request,
                                    const CapList &caps) {
  VmRecord vm;
  vm.id = id;
  vm.name = request.name;
  vm.image = request.image;
  vm.cpus = request.cpus;
  vm.memory_mib = request.memory_mib;
  vm.disk_gib = request.disk_gib;
  vm.state = VmState::kCreating;
  vm.step = "reserved";
  vm.created_ms = deps_.clock->NowUnixMillis();
  vm.snapshot = request.from_snapshot;
  MutexLock lock(&create_mu_);
  RETURN_IF_ERROR(deps_.store->Transaction([&](Tx &tx) -> Status {
    // Under createVMMu, as DeleteSnapshot's check: a clone never points at a
    // deleted snapshot.
    if (!vm.snapshot.empty())
      RETURN_IF_ERROR(tx.GetSnapshot(vm.snapshot).status());
    Result<VmRecord> existing = tx.GetVm(vm.name);
    if (existing.ok())
      return AlreadyExists("VM \"" + vm.name + "\" already exists");
    if (existing.error().code() != Code::kNotFound)
      return existing.error();
    ASSIGN_OR_RETURN(std::vector<std::string> leased, tx.ListVmIps());
    ASSIGN_OR_RETURN(vm.ip, ips_.Allocate(std::set<std::string>(leased.begin(),
                                                                leased.end())));
    ASSIGN_OR_RETURN(vm.mac, MacForIp(vm.ip));
    RETURN_IF_ERROR(tx.InsertVm(vm));
    // The settings go with the reserved record, so every later hook (and a
    // rollback after a crash) finds them.
    for (const CapEntry &c : caps) {
      RETURN_IF_ERROR(tx.PutVmCap(
          {vm.id, std::string(c.cap->Name()), c.settings.dump()}));
    }
    return Status::Ok();
  }));
  if (deps_.hooks.added)
    deps_.hooks.added(vm.name, vm.ip);
  if (deps_.hooks.created)
    deps_.hooks.created(vm);
  if (deps_.hooks.create_step)
    deps_.hooks.create_step(vm.name, vm.step);
  return vm;
}

Result<nlohmann::json> VmManager::RunCreate(const std::string &id,
                                            OpContext &ctx) {
  std::shared_ptr<VmLock> vm_lock = vm_locks_.For(id);
  vm_lock->Lock("vm.create");
  VmLockHold hold(vm_lock.get());
  ASSIGN_OR_RETURN(VmRecord vm, deps_.store->GetVm(id));
  Status st = CreateSteps(vm, ctx);
  if (!st.ok()) {
    spdlog::warn("vm {}: create failed at step after \"{}\": {}; rolling back",
                 vm.name, vm.step, st.ToString());
    RollbackCreate(vm);
    return st;
  }
  ctx.Progress("ready", 1.0);
  return VmRecordToJson(vm);
}

Status VmManager::CreateSteps(VmRecord &vm, OpContext &ctx) {
  std::stop_token stop = ctx.stop();
  auto check_stop = [&]() -> Status {
    if (stop.stop_requested())
      return Cancelled("creating VM \"" + vm.name + "\" was cancelled");
    return Status::Ok();
  };
  // A clone's disk overlays its snapshot's frozen disk; any other VM's, the
  // image's rootfs.
  const bool clone = !vm.snapshot.empty();
  ctx.Progress(clone ? "overlay the snapshot's disk" : "clone disk", 0.1);
  std::error_code ec;
  std::filesystem::create_directories(Dir(vm), ec);
  if (ec)
    return Internal("cannot create " + Dir(vm).string() + ": " + ec.message());
  if (clone) {
    RETURN_IF_ERROR(OverlayDisk(vm, SnapshotDir(vm.snapshot) / kSnapshotDisk, "qcow2", stop));
  } else {
    ASSIGN_OR_RETURN(ImageBoot image, deps_.images(vm.image));
    RETURN_IF_ERROR(OverlayDisk(vm, image.rootfs, "raw", stop));
  }
  vm.step = "disk";
  RETURN_IF_ERROR(Save(vm));
  RETURN_IF_ERROR(check_stop());

  ctx.Progress("write seed", 0.3);
  ASSIGN_OR_RETURN(Ed25519Key host_key, WriteSeed(vm, stop));
  vm.step = "seed";
  RETURN_IF_ERROR(Save(vm));
  RETURN_IF_ERROR(check_stop());
  return clone ? BootClone(vm, ctx, host_key) : Boot(vm, stop, &ctx);
}

Status VmManager::CreateOverlay(const std::filesystem::path &backing, std::string_view format,
                                const std::filesystem::path &overlay, const std::string &size,
                                std::stop_token stop) {
  // No copy, so it takes milliseconds.
  RunSpec run;
  run.argv = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", std::string(format), "-b",
              std::filesystem::absolute(backing).string(), overlay.string()};
  if (!size.empty())
    run.argv.push_back(size);
  run.timeout = std::chrono::seconds(60);
  return RunAndCheck(*deps_.runner, run, stop).status();
}

Status VmManager::OverlayDisk(const VmRecord &vm, const std::filesystem::path &backing,
                              std::string_view format, std::stop_token stop) {
  // A qcow2 overlay on the image's raw rootfs (or a snapshot's frozen disk).
  return CreateOverlay(backing, format, Dir(vm) / "disk.qcow2",
                       std::to_string(vm.disk_gib) + "G", stop)
      .Annotate("clone disk of " + vm.name);
}

Result<Ed25519Key> VmManager::WriteSeed(const VmRecord &vm, std::stop_token stop) {
  ASSIGN_OR_RETURN(Ed25519Key host_key,
                   Ed25519Key::Generate("warren-host-" + vm.name));
  RETURN_IF_ERROR(WriteFileAtomically(Dir(vm) / "host_key.pub",
                                      host_key.OpensshPublicLine() + "\n"));
  SeedSpec seed;
  seed.instance_id = vm.id;
  seed.hostname = vm.name;
  seed.ip = vm.ip;
  seed.prefix = ips_.prefix_len();
  seed.gateway = ips_.Gateway();
  seed.dns = ips_.Gateway();
  seed.search_domain = options_.search_domain;
  seed.mac = vm.mac;
  seed.authorized_key = options_.client_public_key;
  seed.host_key = host_key;
  RETURN_IF_ERROR(ContributeSeed(vm, seed).Annotate("seed of " + vm.name));
  RETURN_IF_ERROR(WriteSeedIso(*deps_.runner, seed, Dir(vm) / "seed.iso", stop)
                      .Annotate("write seed of " + vm.name));
  return host_key;
}

void VmManager::RollbackCreate(const VmRecord &vm) {
  // Reverse order of the steps; every undo tolerates "already undone".
  if (deps_.hooks.guest_down)
    deps_.hooks.guest_down(vm.name);
  if (std::unique_ptr<VmProcess> proc = TakeProcess(vm.id)) {
    Status st = proc->Kill();
    if (!st.ok())
      spdlog::error("vm {}: rollback: kill QEMU: {}", vm.name, st.ToString());
  } else if (vm.pid > 0) {
    Result<std::unique_ptr<VmProcess>> adopted = deps_.hypervisor->Adopt(
        static_cast<pid_t>(vm.pid), QmpSocket(vm), [](const QemuExit &) {});
    if (adopted.ok())
      (void)(*adopted)->Kill();
  }
  if (!vm.tap.empty()) {
    Status st = deps_.taps->Release(vm.tap);
    if (!st.ok())
      spdlog::error("vm {}: rollback: release {}: {}", vm.name, vm.tap,
                    st.ToString());
  }
  KeepFailedLog(vm);
  // From the stored settings, before the record (and its rows) go. A create
  // that crashed after OnReady left things up in a daemon that is gone: the
  // capabilities' OnDelete undoes them all the same.
  DeleteCaps(vm);
  std::error_code ec;
  std::filesystem::remove_all(Dir(vm), ec);
  std::filesystem::remove(QmpSocket(vm), ec);
  std::filesystem::remove(AgentSocket(vm), ec);
  Status st = deps_.store->Transaction([&](Tx &tx) -> Status {
    Status del = tx.DeleteVm(vm.id);
    return del.code() == Code::kNotFound ? Status::Ok() : del;
  });
  budget_.Release(vm.id);
  if (!st.ok())
    spdlog::error("vm {}: rollback: delete record: {}", vm.name, st.ToString());
  else if (deps_.hooks.removed)
    deps_.hooks.removed(vm.name);
}

void VmManager::KeepFailedLog(const VmRecord &vm) const {
  namespace fs = std::filesystem;
  constexpr size_t kKeptFailedLogs = 16;
  std::error_code ec;
  fs::path log = Dir(vm) / "serial.log";
  if (!fs::exists(log, ec))
    return; // QEMU never started: nothing to show
  fs::rename(log, FailedLogPath(vm), ec);
  if (ec) {
    spdlog::warn("vm {}: keep serial log: {}", vm.name, ec.message());
    return;
  }
  // Bounded: the oldest beyond kKeptFailedLogs go.
  std::vector<std::pair<fs::file_time_type, fs::path>> kept;
  for (const fs::directory_entry &e :
       fs::directory_iterator(options_.failed_logs_dir, ec)) {
    kept.emplace_back(e.last_write_time(ec), e.path());
  }
  if (kept.size() <= kKeptFailedLogs)
    return;
  std::sort(kept.begin(), kept.end());
  for (size_t i = 0; i + kKeptFailedLogs < kept.size(); ++i)
    fs::remove(kept[i].second, ec);
}

} // namespace warren

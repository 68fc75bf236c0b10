// Snapshots of a running VM (memory, device state and disk at one instant),
// restore of a VM to one of its own snapshots, and the snapshot registry.
//
// Disk: the VM's disk is a small qcow2 overlay over the image's raw rootfs.
// While QEMU is paused after migration its block devices are flushed and
// inactive, so a plain copy of the overlay is the disk at the snapshot's
// instant (the rootfs is read-only, shared by reference). This is chosen over
// `blockdev-snapshot-sync` because it leaves the running VM's block graph
// untouched (no chain growing with every snapshot, nothing to unwind when the
// daemon dies half-way) at the cost of copying the overlay: megabytes for a
// freshly booted guest.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <system_error>

#include "sys/files.h"
#include "vm/vm_manager.h"
#include <spdlog/spdlog.h>

#include <thread>

namespace warren {
namespace {

namespace fs = std::filesystem;

// Each request to a restored guest's agent (it answers at once when present;
// a loaded TCG guest may take seconds).
constexpr auto kAgentTimeout = std::chrono::seconds(5);
constexpr int kAgentPings = 5;
// Whether a guest being snapshotted has the agent: it answers at once when
// present, so this is what a snapshot of a guest without one pays.
constexpr auto kAgentProbe = std::chrono::seconds(2);
// Before the pause, a snapshot waits (at most kQuietLimit) for a window of
// kQuietWindow in which QEMU used under kQuietShare of a core. Work the guest
// has in flight when it is saved (an SSH handshake warren's link pool just
// started, a fresh boot's last scripts) is done again by every clone, each
// with a cold TCG translation cache: right after an `exec`, a clone took 0.8
// s instead of 0.55, and 10 at once 6.0 s instead of 3.4 (docs/SNAPSHOTS.md).
constexpr auto kQuietWindow = std::chrono::milliseconds(100);
constexpr auto kQuietLimit = std::chrono::milliseconds(2000);
constexpr double kQuietShare = 0.2;
constexpr const char *kStateFile = VmManager::kSnapshotState;
constexpr const char *kDiskFile = VmManager::kSnapshotDisk;
constexpr const char *kSeedFile = VmManager::kSnapshotSeed;

Status ValidateSnapshotName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && name.front() != '-' &&
            name.front() != '.';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '.' || c == '_');
  }
  if (ok)
    return Status::Ok();
  return InvalidArgument("snapshot name \"" + std::string(name) +
                         "\" must be 1-63 of a-z, 0-9, '-', '.', '_', not "
                         "starting with '-' or '.'");
}

// "VM-YYYYMMDD-HHMMSS" (UTC) for `vm snapshot VM` without a name.
std::string DefaultSnapshotName(std::string_view vm, int64_t now_ms) {
  std::time_t t = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return std::string(vm) + "-" + buf;
}

Status CopyFile(const fs::path &from, const fs::path &to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec)
    return Internal("copy " + from.string() + " to " + to.string() + ": " + ec.message());
  return SyncPath(to, O_RDONLY);
}

// "a, b, c": the names of the records `keep` holds for.
template <typename Record, typename Pred>
std::string NamesWhere(const std::vector<Record> &records, Pred keep) {
  std::string names;
  for (const Record &r : records) {
    if (keep(r))
      names += (names.empty() ? "" : ", ") + r.name;
  }
  return names;
}

// What each file costs on disk (allocated, not apparent: the RAM file is
// sparse), and their sum.
nlohmann::json FilesOf(const fs::path &dir, int64_t *total) {
  nlohmann::json files = nlohmann::json::object();
  *total = 0;
  std::error_code ec;
  for (const fs::directory_entry &e : fs::directory_iterator(dir, ec)) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) != 0)
      continue;
    int64_t size = static_cast<int64_t>(st.st_blocks) * 512;
    files[e.path().filename().string()] = size;
    *total += size;
  }
  return files;
}

} // namespace

nlohmann::json SnapshotRecordToJson(const SnapshotRecord &s) {
  nlohmann::json files = nlohmann::json::parse(s.files_json, nullptr, false);
  return nlohmann::json{{"name", s.name},         {"vm", s.vm_name},
                        {"vm_id", s.vm_id},       {"image", s.image},
                        {"cpus", s.cpus},         {"memory_mib", s.memory_mib},
                        {"disk_gib", s.disk_gib}, {"mac", s.mac},
                        {"ip", s.ip},             {"size_bytes", s.size_bytes},
                        {"files", files.is_discarded() ? nlohmann::json::object() : files},
                        {"created_ms", s.created_ms},
                        {"agent", s.agent},
                        {"parent", s.parent}};
}

VmProcess *VmManager::ProcessOf(const std::string &id) {
  MutexLock lock(&procs_mu_);
  auto it = procs_.find(id);
  return it == procs_.end() ? nullptr : it->second.get();
}

Status VmManager::ReserveSnapshotName(const std::string &snap) {
  MutexLock lock(&create_mu_);
  Result<SnapshotRecord> existing = deps_.store->GetSnapshot(snap);
  if (existing.ok() || snapshots_in_flight_.contains(snap))
    return AlreadyExists("snapshot \"" + snap + "\" already exists");
  if (existing.error().code() != Code::kNotFound)
    return existing.error();
  snapshots_in_flight_.insert(snap);
  return Status::Ok();
}

void VmManager::ReleaseSnapshotName(const std::string &snap) {
  MutexLock lock(&create_mu_);
  snapshots_in_flight_.erase(snap);
}

Result<std::string> VmManager::SnapshotVM(std::string_view name, std::string snap,
                                          bool stop) {
  ASSIGN_OR_RETURN(VmRecord vm, deps_.store->GetVm(name));
  if (snap.empty())
    snap = DefaultSnapshotName(vm.name, deps_.clock->NowUnixMillis());
  RETURN_IF_ERROR(ValidateSnapshotName(snap));
  if (vm.state != VmState::kRunning) {
    return FailedPrecondition("VM \"" + vm.name + "\" is " +
                              std::string(VmStateName(vm.state)) +
                              "; only a running VM can be snapshotted (`warren vm start " +
                              vm.name + "`)");
  }
  // Checked again, and the name reserved, in the op: this is the early answer.
  if (deps_.store->GetSnapshot(snap).ok())
    return AlreadyExists("snapshot \"" + snap + "\" already exists");
  return deps_.ops->Start(
      "vm.snapshot", vm.name,
      [this, id = vm.id, snap, stop](OpContext &ctx) -> Result<nlohmann::json> {
        SnapshotRecord made;
        RETURN_IF_ERROR(WithSettledVmLock(
            id, "vm.snapshot", LockWait{ctx.stop(), nullptr}, [&](VmRecord &vm) -> Status {
              ASSIGN_OR_RETURN(made, SnapshotLocked(vm, snap, stop, ctx));
              return Status::Ok();
            }));
        return SnapshotRecordToJson(made);
      });
}

Result<std::string> VmManager::SnapshotImage(CreateRequest shape, std::string snap) {
  RETURN_IF_ERROR(ValidateSnapshotName(snap));
  if (deps_.store->GetSnapshot(snap).ok())
    return AlreadyExists("snapshot \"" + snap + "\" already exists");
  if (shape.name.empty()) // a temporary VM; random, so two image snapshots never clash
    shape.name = "image-snapshot-" + RandomHex(4);
  ASSIGN_OR_RETURN(VmRecord vm, AdmitAndReserve(shape));
  Result<std::string> op = deps_.ops->Start(
      "image.snapshot", vm.image,
      [this, id = vm.id, name = vm.name, snap](OpContext &ctx) -> Result<nlohmann::json> {
        // The boot rolls itself back when it fails.
        RETURN_IF_ERROR(RunCreate(id, ctx).status());
        SnapshotRecord made;
        Status st = WithSettledVmLock(
            id, "image.snapshot", LockWait{ctx.stop(), nullptr}, [&](VmRecord &vm) -> Status {
              ASSIGN_OR_RETURN(made, SnapshotLocked(vm, snap, /*stop_after=*/true, ctx));
              return Status::Ok();
            });
        Status removed = DeleteVM(id, /*force=*/true);
        if (!removed.ok())
          spdlog::error("image snapshot {}: remove VM {}: {}", snap, name, removed.ToString());
        RETURN_IF_ERROR(st);
        return SnapshotRecordToJson(made);
      });
  if (!op.ok())
    RollbackCreate(vm);
  return op;
}

Result<SnapshotRecord> VmManager::SnapshotLocked(VmRecord &vm, const std::string &snap,
                                                 bool stop_after, OpContext &ctx) {
  if (vm.state != VmState::kRunning) {
    return FailedPrecondition("VM \"" + vm.name + "\" is " +
                              std::string(VmStateName(vm.state)) +
                              "; only a running VM can be snapshotted");
  }
  RETURN_IF_ERROR(NotExportingLocked(vm));
  VmProcess *proc = ProcessOf(vm.id);
  if (proc == nullptr)
    return FailedPrecondition("VM \"" + vm.name + "\" has no QEMU process");
  RETURN_IF_ERROR(ReserveSnapshotName(snap));
  struct Release {
    VmManager *m;
    const std::string &snap;
    ~Release() { m->ReleaseSnapshotName(snap); }
  } release{this, snap};

  const fs::path tmp = SnapshotTempDir(snap);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec)
    return Internal("create " + tmp.string() + ": " + ec.message());
  auto discard = [&](const Status &st) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    return st.Annotate("snapshot " + snap + " of VM " + vm.name);
  };

  // Asked before the pause: a clone of this snapshot needs the agent.
  const bool agent = AgentAnswers(vm);
  ctx.Progress("wait for a quiet guest", 0.05);
  WaitForQuietGuest(vm, proc->pid());
  ctx.Progress("save memory and devices", 0.1);
  const fs::path state = tmp / kStateFile;
  int fd = ::open(state.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return discard(ErrnoError("create " + state.string(), errno));
  Status saved = proc->SaveState(fd, GuestRam::kInState, kStateTimeout);
  if (saved.ok() && ::fsync(fd) != 0)
    saved = ErrnoError("fsync " + state.string(), errno);
  ::close(fd);
  // From here the guest is paused: resume it on every path out.
  ctx.Progress("copy disk", 0.6);
  if (saved.ok())
    saved = CopyFile(Dir(vm) / "disk.qcow2", tmp / kDiskFile);
  if (saved.ok())
    saved = CopyFile(Dir(vm) / "seed.iso", tmp / kSeedFile);
  if (saved.ok())
    Step(vm.name, "snapshot-files");
  if (!stop_after || !saved.ok()) {
    Status resumed = proc->Resume();
    if (!resumed.ok())
      spdlog::error("vm {}: resume after snapshot: {}", vm.name, resumed.ToString());
    if (saved.ok())
      saved = resumed;
  }
  if (!saved.ok())
    return discard(saved);
  if (stop_after) {
    ctx.Progress("stop VM", 0.7);
    if (Status halted = Halt(vm, /*force=*/true, options_.stop_timeout); !halted.ok())
      return discard(halted.Annotate("stop " + vm.name));
  }
  // With the guest running again: clones then map the RAM instead of copying
  // it. A snapshot whose RAM cannot be set apart still works (its clones
  // copy the RAM), so that is a warning, not a failure.
  ctx.Progress("set RAM apart", 0.8);
  if (Status apart = SeparateRam(vm, tmp); !apart.ok()) {
    spdlog::warn("vm {}: snapshot {} keeps its RAM in its state: {}", vm.name, snap,
                 apart.ToString());
  }

  ctx.Progress("publish", 0.9);
  SnapshotRecord rec;
  rec.name = snap;
  rec.vm_id = vm.id;
  rec.vm_name = vm.name;
  rec.image = vm.image;
  rec.cpus = vm.cpus;
  rec.memory_mib = vm.memory_mib;
  rec.disk_gib = vm.disk_gib;
  rec.mac = vm.mac;
  rec.ip = vm.ip;
  rec.files_json = FilesOf(tmp, &rec.size_bytes).dump();
  rec.created_ms = deps_.clock->NowUnixMillis();
  rec.agent = agent;
  rec.parent = vm.snapshot;
  // Rename, then record: a crash between the two leaves a directory without a
  // record, which Recover removes; never a record without its files.
  Status published = SyncPath(tmp, O_RDONLY | O_DIRECTORY);
  if (published.ok()) {
    fs::rename(tmp, SnapshotDir(snap), ec);
    if (ec)
      published = Internal("rename " + tmp.string() + ": " + ec.message());
  }
  if (!published.ok())
    return discard(published);
  (void)SyncPath(options_.snapshots_dir, O_RDONLY | O_DIRECTORY);
  Step(vm.name, "snapshot-published");
  Status recorded = deps_.store->Transaction([&](Tx &tx) { return tx.InsertSnapshot(rec); });
  if (!recorded.ok()) {
    fs::remove_all(SnapshotDir(snap), ec);
    return recorded.Annotate("record snapshot " + snap);
  }
  Step(vm.name, "snapshot-recorded");
  spdlog::info("vm {}: snapshot {} ({} bytes)", vm.name, snap, rec.size_bytes);
  return rec;
}

Status VmManager::ResumeSaved(const VmRecord &vm, VmProcess &proc, const ResumeFrom &resume,
                              const std::function<void(const char *, double)> &progress) {
  progress("load saved state", 0.7);
  int fd = ::open(resume.state.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ErrnoError("open " + resume.state.string(), errno);
  Status st = proc.LoadState(fd, resume.ram.empty() ? GuestRam::kInState : GuestRam::kApart,
                             kStateTimeout);
  ::close(fd);
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(proc.Resume());
  if (resume.identity == nullptr)
    return Status::Ok();
  // A clone wakes up as its parent (address, MAC, host key) behind a TAP
  // that Boot set down: whatever it sends meanwhile is dropped. Up once the
  // agent has made it itself.
  progress("re-identify guest", 0.75);
  RETURN_IF_ERROR(Reidentify(vm, *resume.identity));
  return deps_.taps->SetUp(vm.tap, true).Annotate("set the TAP of " + vm.name + " up");
}

void VmManager::WaitForQuietGuest(const VmRecord &vm, pid_t pid) {
  if (!deps_.cpu_seconds || pid <= 0)
    return;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto read_at = start;
  Result<double> before = deps_.cpu_seconds(pid);
  while (before.ok() && Clock::now() - start < kQuietLimit) {
    std::this_thread::sleep_for(kQuietWindow);
    Result<double> after = deps_.cpu_seconds(pid);
    const auto now = Clock::now();
    if (!after.ok())
      return;
    // The window as slept (a loaded host oversleeps), not as asked.
    const double window = std::chrono::duration<double>(now - read_at).count();
    if (*after - *before <= kQuietShare * window)
      return;
    before = after;
    read_at = now;
  }
  if (before.ok())
    spdlog::info("vm {}: still busy after {} ms; snapshot taken anyway (its clones redo what "
                 "was in flight)",
                 vm.name, kQuietLimit.count());
}

bool VmManager::AgentAnswers(const VmRecord &vm) {
  Result<std::unique_ptr<GuestAgent>> agent = deps_.connect_agent(AgentSocket(vm));
  Status st = agent.ok() ? (*agent)->Ping(kAgentProbe) : agent.error();
  if (!st.ok())
    spdlog::info("vm {}: no guest agent answers ({}); clones of its snapshots are refused",
                 vm.name, st.ToString());
  return st.ok();
}

Result<std::unique_ptr<GuestAgent>> VmManager::ReachAgent(const VmRecord &vm,
                                                          std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(std::unique_ptr<GuestAgent> agent, deps_.connect_agent(AgentSocket(vm)));
  // Pinged until it answers: a guest snapshotted while its agent was still
  // setting up its console may lose or echo the first request.
  Status st;
  for (int attempt = 0; attempt < kAgentPings; ++attempt) {
    st = agent->Ping(timeout / kAgentPings);
    if (st.code() != Code::kDeadlineExceeded) break;
  }
  RETURN_IF_ERROR(st);
  return agent;
}

Status VmManager::RestoreVM(std::string_view name, std::string_view snap,
                            const LockWait &wait) {
  ASSIGN_OR_RETURN(SnapshotRecord rec, deps_.store->GetSnapshot(snap));
  return WithSettledVmLock(name, "vm.restore", wait, [&](VmRecord &vm) -> Status {
    if (rec.vm_id != vm.id) {
      return FailedPrecondition("snapshot \"" + rec.name + "\" was taken of VM \"" +
                                rec.vm_name + "\", not \"" + vm.name +
                                "\"; a VM is restored only to its own snapshots");
    }
    RETURN_IF_ERROR(NotExportingLocked(vm));
    return RestoreLocked(vm, rec, wait.stop);
  });
}

Status VmManager::RestoreLocked(VmRecord &vm, const SnapshotRecord &snap,
                                std::stop_token stop) {
  // The old guest goes first (its sessions end through guest_down); its disk
  // is then replaced whole, never written under a running QEMU. A running VM
  // keeps its memory share across the restore, as across a restart; a stopped
  // one is admitted like `vm start`.
  RETURN_IF_ERROR(Halt(vm, /*force=*/true, options_.stop_timeout, /*keep_memory=*/true));
  RETURN_IF_ERROR(budget_.Admit(vm.id, "vm restore " + vm.name,
                                static_cast<uint64_t>(vm.memory_mib)));
  const fs::path disk = Dir(vm) / "disk.qcow2";
  fs::path tmp = disk;
  tmp += ".restore";
  Status st = CopyFile(SnapshotDir(snap.name) / kDiskFile, tmp);
  if (st.ok()) {
    std::error_code ec;
    fs::rename(tmp, disk, ec);
    if (ec)
      st = Internal("replace " + disk.string() + ": " + ec.message());
  }
  ResumeFrom resume = ResumeFromSnapshot(snap.name);
  resume.seed.clear(); // the VM's own seed: the snapshot's copy of it
  if (st.ok())
    st = Boot(vm, stop, nullptr, &resume);
  if (!st.ok()) {
    LeaveFailedLocked(vm, st, "restore");
    return st;
  }
  StepGuestClock(vm);
  return Status::Ok();
}

void VmManager::StepGuestClock(const VmRecord &vm) {
  // The guest answers SSH, so its agent has long been waiting in its read.
  Result<std::unique_ptr<GuestAgent>> agent = ReachAgent(vm, kAgentTimeout);
  Status st = agent.status();
  if (st.ok()) {
    st = (*agent)->SetClock(deps_.clock->NowUnixMillis() * 1'000'000, kAgentTimeout);
  }
  if (!st.ok()) {
    spdlog::warn("vm {}: its clock still reads the snapshot's time: {}", vm.name,
                 st.ToString());
  }
}

VmManager::ResumeFrom VmManager::ResumeFromSnapshot(std::string_view snap) const {
  const fs::path dir = SnapshotDir(snap);
  ResumeFrom resume;
  resume.state = dir / kStateFile;
  resume.seed = dir / kSeedFile;
  std::error_code ec;
  if (fs::exists(dir / kSnapshotRam, ec))
    resume.ram = dir / kSnapshotRam;
  return resume;
}

Result<std::vector<SnapshotRecord>> VmManager::ListSnapshots() {
  return deps_.store->ListSnapshots();
}

Result<SnapshotRecord> VmManager::GetSnapshot(std::string_view snap) {
  return deps_.store->GetSnapshot(snap);
}

Status VmManager::DeleteSnapshot(std::string_view snap) {
  {
    // Under createVMMu: a clone reserving this snapshot and this delete are
    // ordered, so no VM ever points at a deleted snapshot.
    MutexLock lock(&create_mu_);
    RETURN_IF_ERROR(deps_.store->Transaction([&](Tx &tx) -> Status {
      RETURN_IF_ERROR(tx.GetSnapshot(snap).status());
      ASSIGN_OR_RETURN(std::vector<VmRecord> vms, tx.ListVms());
      std::string users = NamesWhere(vms, [&](const VmRecord &vm) { return vm.snapshot == snap; });
      if (!users.empty()) {
        return FailedPrecondition("snapshot \"" + std::string(snap) +
                                  "\" backs the disk of VM " + users +
                                  "; delete those VMs first");
      }
      ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, tx.ListSnapshots());
      users = NamesWhere(snaps, [&](const SnapshotRecord &s) { return s.parent == snap; });
      if (!users.empty()) {
        return FailedPrecondition("snapshot \"" + std::string(snap) +
                                  "\" backs the disk of snapshot " + users +
                                  " (taken of its clones); delete those snapshots first");
      }
      return tx.DeleteSnapshot(snap);
    }));
  }
  ram_cache_.Drop(SnapshotDir(snap) / kSnapshotRam);
  std::error_code ec;
  fs::remove_all(SnapshotDir(snap), ec);
  if (ec)
    spdlog::warn("snapshot {}: remove files: {}", snap, ec.message());
  return Status::Ok();
}

Status VmManager::RemoveUnrecordedSnapshots() {
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, deps_.store->ListSnapshots());
  std::set<std::string> known;
  for (const SnapshotRecord &s : snaps)
    known.insert(s.name);
  std::error_code ec;
  for (const fs::directory_entry &e : fs::directory_iterator(options_.snapshots_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (known.contains(name))
      continue;
    spdlog::info("snapshot {}: removing what an interrupted snapshot left", name);
    KillRamHelper(e.path());
    std::error_code ignored;
    fs::remove_all(e.path(), ignored);
  }
  if (ec)
    return Internal("list " + options_.snapshots_dir.string() + ": " + ec.message());
  return Status::Ok();
}

} // namespace warren

#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "image/registry.h"
#include "image/ssh_key.h"
#include "net/ip_alloc.h"
#include "ops/op_registry.h"
#include "store/store.h"
#include "sys/runner.h"
#include "vm/capability.h"
#include "vm/guest_agent.h"
#include "vm/hypervisor.h"
#include "vm/memory_budget.h"
#include "vm/snapshot_ram.h"
#include "vm/vm_lock_set.h"

namespace warren {

// What booting an image needs (the image registry answers; see VmManagerDeps).
// The rootfs is a raw file, used read-only as the backing of each VM's overlay.
struct ImageBoot {
  std::filesystem::path kernel, initrd, rootfs; // initrd may be empty
  std::string cmdline;
};
using ImageLookup = std::function<Result<ImageBoot>(std::string_view image)>;

// Where a guest answers SSH, and the host key it must present (the one warren
// put in its seed).
struct GuestTarget {
  std::string vm;
  std::string ip;
  int port = 22;
  std::string host_key_public; // "ssh-ed25519 AAAA..."
};
// Returns OK once SSH authenticates with the daemon's key against that host
// key; DeadlineExceeded at `deadline`, Cancelled when `stop` fires.
using WaitForSsh = std::function<Status(const GuestTarget &,
                                        std::chrono::steady_clock::time_point,
                                        std::stop_token)>;

struct CreateRequest {
  std::string name; // DNS label: [a-z0-9-], 1..63, no leading/trailing '-'
  std::string image;
  int cpus = 1;
  int memory_mib = 512;
  int disk_gib = 4;
  // vm.create's `caps`: capability name → that capability's request (see
  // vm/capability.h). Unknown names are refused before anything is reserved.
  nlohmann::json caps = nlohmann::json::object();
  // `vm create --from SNAP`: a clone resumed from that snapshot instead of a
  // boot. Its image, cpus, memory and disk are the snapshot's (left 0/"" or
  // equal to them).
  std::string from_snapshot = {};
};

struct VmManagerOptions {
  std::filesystem::path vms_dir; // one directory per VM: vms_dir/NAME/
  // One directory per snapshot: snapshots_dir/SNAP/{state,disk.qcow2,seed.iso}.
  std::filesystem::path snapshots_dir;
  std::filesystem::path
      run_dir; // QMP sockets (short paths: a unix socket is < 108 bytes)
  // A create that fails after QEMU started removes the VM's directory; its
  // serial log is kept here first as NAME.serial.log (the newest 16),
  // and the error names it. Required.
  std::filesystem::path failed_logs_dir;
  std::string subnet =
      "10.77.0.0/24"; // guests get leases here; the bridge has the gateway
  std::string search_domain; // DNS search domain given to guests ("" = none)
  std::string
      client_public_key; // the daemon's SSH public key, authorized in guests
  Accel accel = Accel::kTcg;
  std::filesystem::path qemu_binary = "qemu-system-x86_64";
  int tcg_tb_mib = kDefaultTcgTbMib; // see VmSpec::tcg_tb_mib
  std::string run_as; // see VmSpec::run_as
  std::chrono::milliseconds ssh_timeout{std::chrono::minutes(3)};
  std::chrono::milliseconds stop_timeout{
      std::chrono::seconds(30)}; // Delete --force, Restart
  uint64_t log_cap_bytes =
      4 << 20; // serial log rotated to serial.log.1 at boot beyond this
  // Admission control (MemoryBudget): what all VMs may use together, and what
  // each costs beyond its guest memory. Unlimited unless the daemon sets one.
  uint64_t memory_budget_bytes = MemoryBudget::kUnlimited;
  uint64_t memory_overhead_bytes = 0;
  // Written to each QEMU's /proc/PID/oom_score_adj: the kernel's OOM killer
  // picks a QEMU long before the daemon (which lowers its own).
  int qemu_oom_score_adj = 500;
};

// Observers of VM changes (all optional). Called with no VmManager lock held
// except where noted; they must be quick and must not call back into the
// manager.
struct VmHooks {
  // A VM got its name and guest IP (create reserved them) / lost them (deleted
  // or rolled back). The DNS records follow these.
  std::function<void(const std::string &name, const std::string &ip)> added;
  std::function<void(const std::string &name)> removed;
  // The VM's record was inserted by create (under createVMMu) / written with
  // a new state or step (under the VM's lock, or by QEMU's watcher thread when
  // it exited on its own). The event bus follows these.
  std::function<void(const VmRecord &vm)> created;
  std::function<void(const VmRecord &vm)> changed;
  // The guest is going away: about to be stopped or deleted (called under the
  // VM's lock, before QEMU is told), or its QEMU exited on its own. Sessions
  // to it end here.
  std::function<void(const std::string &name)> guest_down;
  // A create step was recorded durably (reserved, disk, seed, tap, launch,
  // ready), or a snapshot reached one (snapshot-files: state and disk
  // written, the guest still paused; snapshot-published: the directory in
  // place; snapshot-recorded): the fault-injection seam that crash tests kill
  // the daemon at.
  std::function<void(const std::string &name, const std::string &step)>
      create_step;
  // QEMU of `vm` (already recorded failed, its error kOomKilledError) was
  // killed by the kernel's OOM killer.
  std::function<void(const VmRecord &vm)> oom_killed;
};

// A VM's error once the kernel's OOM killer took its QEMU.
inline constexpr std::string_view kOomKilledError =
    "QEMU was killed by the kernel's OOM killer (host out of memory)";

// Seams and collaborators; all must outlive the manager.
struct VmManagerDeps {
  Store *store = nullptr;
  OpRegistry *ops = nullptr;
  Runner *runner = nullptr; // qemu-img, genisoimage
  Hypervisor *hypervisor = nullptr;
  TapSource *taps = nullptr;
  Clock *clock = nullptr;
  ImageLookup images;
  WaitForSsh wait_for_ssh;
  // The daemon's `vmCaps` (may hold no capability, never null).
  const CapabilityRegistry *caps = nullptr;
  // Whether the kernel's OOM killer killed process `pid` (it just died of
  // SIGKILL that warren did not send). Required; answer false when unknown.
  std::function<bool(pid_t pid)> oom_killed;
  // Required: restore steps the guest's clock through it.
  ConnectAgent connect_agent;
  // CPU seconds (user + system) QEMU `pid` has used so far: a snapshot waits
  // for a quiet guest through it. Optional: without it, no wait.
  std::function<Result<double>(pid_t pid)> cpu_seconds;
  VmHooks hooks;
};

// Stable names: id, name, image, cpus, memory_mib, disk_gib, state, step, ip,
// mac, created_ms, started_ms, error; snapshot (a clone's) when not empty.
nlohmann::json VmRecordToJson(const VmRecord &vm);

// Stable names: name, vm, vm_id, image, cpus, memory_mib, disk_gib, mac, ip,
// size_bytes, files ({file: bytes}), created_ms, agent (clones can be made),
// parent (the snapshot a clone's snapshot's disk is backed by; "" = none).
nlohmann::json SnapshotRecordToJson(const SnapshotRecord &snap);

// Checks a VM name is a DNS label (InvalidArgument naming it otherwise).
Status ValidateVmName(std::string_view name);

// 2 x `bytes` lowercase hex digits from std::random_device (ids, temporary
// names, a clone's RNG seed).
std::string RandomHex(size_t bytes);

// The VM registry and lifecycle: create (as an op), start, stop, delete,
// recover.
//
// Locks, in the seed's order: a VM's own lock (VmLockSet's VmLock, kVm; it
// knows its holder, and client calls wait for it cancellably) → create_mu_
// (createVMMu, kRegistry) → leaf locks (procs_mu_, the store's). create_mu_
// covers only name uniqueness + IP allocation + the record insert (one store
// transaction); every step that touches files, TAPs, QEMU or the guest runs
// under the VM's lock alone.
//
// State machine (persisted): creating → running (or rolled back and deleted);
// stopped → starting → running → stopping → stopped; failed when a boot fails
// or QEMU dies on its own with an error. Create records each finished step so
// a crash can be rolled back by Recover().
//
// Thread-safety: thread-safe. Hypervisor exit callbacks only write the store
// (keyed by pid so a stale callback never touches a newer boot).
class VmManager {
public:
  static Result<std::unique_ptr<VmManager>> Create(VmManagerOptions options,
                                                   VmManagerDeps deps);
  // Stops watching QEMU processes; they keep running (adopted at next start).
  ~VmManager();
  VmManager(const VmManager &) = delete;
  VmManager &operator=(const VmManager &) = delete;

  // Once at daemon start, before anything else: rolls back "creating" VMs,
  // adopts "running" ones whose QEMU lives, marks the others stopped. Returns
  // the TAPs still owned by VMs (for TapPool::ReapStale).
  Result<std::set<std::string>> Recover();

  // Reserves the name and a guest IP and starts a "vm.create" op (target =
  // name) whose result is the VM's JSON. Errors before the op starts:
  // InvalidArgument, AlreadyExists (name), ResourceExhausted (no IP left).
  // With request.from_snapshot, a clone (vm_clone.cc): NotFound (snapshot),
  // FailedPrecondition (its guest has no agent; a capability that needs a
  // first boot), InvalidArgument (a shape other than the snapshot's).
  Result<std::string> CreateVM(const CreateRequest &request);
  // The calls below wait for the VM's lock as `wait` says: the caller hears
  // who holds it, and `wait.stop` ends the wait with Cancelled, nothing changed.
  //
  // Boots a stopped (or failed) VM with a fresh TAP; returns once SSH is ready
  // (`wait.stop` also cancels the boot).
  Status StartVM(std::string_view name, const LockWait &wait = {});
  // Graceful power-down (up to `timeout`) then kill; `force` kills at once.
  // OK for an already stopped VM.
  Status StopVM(std::string_view name, bool force,
                std::chrono::milliseconds timeout, const LockWait &wait = {});
  // Stop then start under one hold of the VM's lock.
  Status RestartVM(std::string_view name, std::chrono::milliseconds timeout,
                   const LockWait &wait = {});
  // Refuses a running VM unless `force`; refuses one being created (cancel its
  // op) or exported.
  Status DeleteVM(std::string_view name, bool force, const LockWait &wait = {});

  Result<std::vector<VmRecord>> List();
  Result<VmRecord> Get(std::string_view name);
  // The VM's serial console log (may not exist before its first boot).
  Result<std::filesystem::path> LogPath(std::string_view name);
  // Where a running VM answers SSH. FailedPrecondition, saying what to do,
  // when it is not running (or still booting); NotFound if there is no such VM.
  Result<GuestTarget> SshTarget(std::string_view name);
  // `warren image promote`: under the VM's lock, refuses unless it is stopped
  // (or failed) and marks it exporting; then, without the VM's lock (a copy
  // takes minutes), flattens its disk (overlay + image) into one sparse raw
  // file and calls `publish` with the VM, its image's boot files and that file.
  // While exporting, start/restart/rm are refused at once (FailedPrecondition
  // naming the export): the disk must not change under the copy, and nobody
  // queues for minutes behind it. The raw file is removed afterwards.
  using PublishDisk = std::function<Status(const VmRecord &, const ImageBoot &,
                                           const std::filesystem::path &raw)>;
  Status ExportDisk(std::string_view name, const PublishDisk &publish,
                    const LockWait &wait = {});
  // Under the VM's lock: `cap`'s Change with the VM's stored settings (null
  // when the VM has none for it) and `change`; stores and returns what
  // Describe says of the new settings. NotFound for an unknown capability.
  Result<nlohmann::json> ChangeCapability(std::string_view name,
                                          std::string_view cap,
                                          const nlohmann::json &change,
                                          const LockWait &wait = {});
  // {capability: DescribeVm(...)} for each capability the VM has settings for.
  Result<nlohmann::json> DescribeCaps(const VmRecord &vm);

  // What the VMs hold of the memory budget now.
  MemoryUsage Memory() const { return budget_.Usage(); }

  // VMs built on `image` (for ImageRegistry::Options::users), and snapshots
  // of it (named "snapshot NAME": a snapshot's disk is backed by the image).
  std::vector<ImageUser> ImageUsers(std::string_view image);

  // Snapshots (vm_snapshot.cc; docs/SNAPSHOTS.md). SnapshotVM starts a
  // "vm.snapshot" op (target = the VM) whose result is the snapshot's JSON:
  // under the VM's lock, the guest is paused, its RAM and device state are
  // written to a file (QEMU migration to a descriptor) and its disk overlay is
  // copied while paused, then the guest resumes (`stop`: the VM is stopped
  // instead). Written in a temp directory renamed into place, then recorded;
  // Recover removes whatever a crash left unrecorded. `snap` empty = a name
  // made from the VM's and the time. Errors before the op: InvalidArgument,
  // NotFound (VM), AlreadyExists (snapshot), FailedPrecondition (not running).
  Result<std::string> SnapshotVM(std::string_view name, std::string snap, bool stop);
  // Rolls a VM back to one of its own snapshots: QEMU is killed (sessions to
  // the guest end), the disk replaced by a copy of the snapshot's, and a new
  // QEMU loads the saved state and resumes. Returns once SSH answers.
  Status RestoreVM(std::string_view name, std::string_view snap, const LockWait &wait = {});
  Result<std::vector<SnapshotRecord>> ListSnapshots();
  Result<SnapshotRecord> GetSnapshot(std::string_view snap);
  // `image snapshot`: an "image.snapshot" op (target = the image) that boots
  // a VM of `shape` (named image-snapshot-N if unnamed), snapshots it as `snap` once
  // ready, and deletes the VM: a snapshot of a freshly booted image that
  // `vm create --from` resumes. Errors before the op as CreateVM's and
  // SnapshotVM's.
  Result<std::string> SnapshotImage(CreateRequest shape, std::string snap);
  // FailedPrecondition naming the VMs (clones) and snapshots (of clones)
  // whose disk is backed by it.
  Status DeleteSnapshot(std::string_view snap);
  // The files of a snapshot's directory.
  static constexpr const char *kSnapshotState = "state";
  static constexpr const char *kSnapshotDisk = "disk.qcow2";
  static constexpr const char *kSnapshotSeed = "seed.iso";
  // How long saving or loading a guest's state may take (TCG guests of a few
  // hundred MiB take well under a second; a large, busy one more).
  static constexpr std::chrono::minutes kStateTimeout{5};
  // Guest RAM apart from the state (vm_snapshot_ram.cc): a sparse file as
  // large as the guest's memory. Snapshots taken before it existed, or whose
  // RAM could not be set apart, have none: their state holds the RAM.
  static constexpr const char *kSnapshotRam = "ram";

  // Runs `fn` under the VM's lock, held as `holder` ("vm.stop": what other
  // waiters are told), with its current record. NotFound if absent; Cancelled
  // (fn not run) when `wait.stop` fires before the lock is had.
  Status WithVmLock(std::string_view name_or_id, std::string holder,
                    const LockWait &wait,
                    const std::function<Status(VmRecord &)> &fn);

private:
  VmManager(VmManagerOptions options, VmManagerDeps deps, IpAllocator ips);

  // WithVmLock for operations on a settled VM: FailedPrecondition while the VM
  // is still being created (checked without waiting for its lock, then under it).
  Status WithSettledVmLock(std::string_view name, std::string holder,
                           const LockWait &wait,
                           const std::function<Status(VmRecord &)> &fn);
  // Under the VM's lock: boot, or leave it failed holding nothing.
  Status StartLocked(VmRecord &vm, std::stop_token stop) EXCLUDES(procs_mu_);
  // Under the VM's lock: FailedPrecondition while ExportDisk copies its disk.
  Status NotExportingLocked(const VmRecord &vm) EXCLUDES(exporting_mu_);

  // Files of a VM.
  std::filesystem::path Dir(const VmRecord &vm) const {
    return options_.vms_dir / vm.name;
  }
  std::filesystem::path QmpSocket(const VmRecord &vm) const {
    return options_.run_dir / (vm.id + ".qmp");
  }
  // The guest agent's socket (vm/guest_agent.h), beside QMP's for the same
  // reason: a unix socket path must stay under 108 bytes.
  std::filesystem::path AgentSocket(const VmRecord &vm) const {
    return options_.run_dir / (vm.id + ".agent");
  }
  // Where the serial log of a failed create is kept (RollbackCreate moves it).
  std::filesystem::path FailedLogPath(const VmRecord &vm) const {
    return options_.failed_logs_dir / (vm.name + ".serial.log");
  }
  // RollbackCreate: moves the VM's serial log to FailedLogPath, keeping the
  // newest 16 there.
  void KeepFailedLog(const VmRecord &vm) const;

  // Snapshots: vm_snapshot.cc. Files of a snapshot, and where one is written
  // before an atomic rename makes it exist.
  std::filesystem::path SnapshotDir(std::string_view snap) const {
    return options_.snapshots_dir / snap;
  }
  std::filesystem::path SnapshotTempDir(std::string_view snap) const {
    return options_.snapshots_dir / (".tmp-" + std::string(snap));
  }
  // Under the VM's lock, the VM running: saves state and disk, resumes the
  // guest (or stops the VM when `stop_after`), then publishes the snapshot.
  Result<SnapshotRecord> SnapshotLocked(VmRecord &vm, const std::string &snap,
                                        bool stop_after, OpContext &ctx)
      EXCLUDES(procs_mu_, create_mu_);
  Status RestoreLocked(VmRecord &vm, const SnapshotRecord &snap,
                       std::stop_token stop) EXCLUDES(procs_mu_);
  // A boot that resumes a snapshot's guest instead of starting a kernel
  // (restore, clone).
  struct ResumeFrom {
    std::filesystem::path state; // QEMU's saved device state (and RAM, without `ram`)
    std::filesystem::path ram;   // the snapshot's RAM file, mapped ("" = in `state`)
    std::filesystem::path seed;  // the seed disk the saved guest had ("" = the VM's)
    // A clone's own identity, given to the guest through its agent while its
    // link is held down (null: the guest keeps the one it had).
    const GuestIdentity *identity = nullptr;
  };
  // A snapshot's files as a ResumeFrom (its RAM file when it has one).
  ResumeFrom ResumeFromSnapshot(std::string_view snap) const;
  // Loads the state into a QEMU launched with VmSpec::incoming and resumes
  // it; a clone is re-identified before its link comes up.
  // `progress` names each step (op progress).
  Status ResumeSaved(const VmRecord &vm, VmProcess &proc, const ResumeFrom &resume,
                     const std::function<void(const char *, double)> &progress);
  // Gives a clone's guest its own identity through its agent.
  Status Reidentify(const VmRecord &vm, const GuestIdentity &identity);
  // Tells hooks.create_step (a snapshot's steps have no record to save).
  void Step(const std::string &vm, const char *step) const {
    if (deps_.hooks.create_step)
      deps_.hooks.create_step(vm, step);
  }
  // Sets a snapshot's RAM apart (vm_snapshot_ram.cc): `dir` holds the files
  // of a snapshot of `vm` whose state includes its RAM; afterwards it also
  // holds kSnapshotRam and the state without RAM. A QEMU of the snapshot's
  // shape loads the state into RAM backed by that (shared) file, then saves
  // its devices alone. On error `dir` is as it was.
  Status SeparateRam(const VmRecord &vm, const std::filesystem::path &dir);
  // Recover: ends a SeparateRam QEMU that a crashed daemon left in `dir`.
  static void KillRamHelper(const std::filesystem::path &dir);
  // Whether the running guest's agent answers (a snapshot records it).
  bool AgentAnswers(const VmRecord &vm);
  // Returns once QEMU `pid` is nearly idle, or after a bounded wait (a busy
  // guest is snapshotted all the same). Sleeps; call it before the pause.
  void WaitForQuietGuest(const VmRecord &vm, pid_t pid);
  // An agent connection to the running guest, pinged until it answers.
  Result<std::unique_ptr<GuestAgent>> ReachAgent(const VmRecord &vm,
                                                 std::chrono::milliseconds timeout);
  // The handle of the VM's QEMU; the caller holds the VM's lock (only a
  // holder of it replaces or drops handles). Null when none.
  VmProcess *ProcessOf(const std::string &id) EXCLUDES(procs_mu_);
  // Recover: removes snapshot directories without a record (a crash between
  // temp dir and record, or a temp dir).
  Status RemoveUnrecordedSnapshots();
  // Names reserved by snapshots being written, so two cannot race for one.
  Status ReserveSnapshotName(const std::string &snap) EXCLUDES(create_mu_);
  void ReleaseSnapshotName(const std::string &snap) EXCLUDES(create_mu_);
  // A boot that failed after QEMU started, with the console's last lines
  // (read now, named where the user will find them).
  Status BootFailure(const VmRecord &vm, bool creating, const Status &st) const;

  // Capability hooks: vm_caps.cc. A VM's capabilities with their settings, in
  // registry order.
  struct CapEntry {
    Capability *cap;
    nlohmann::json settings;
  };
  using CapList = std::vector<CapEntry>;
  // Validate of each capability named in request.caps (no side effects).
  Result<CapList> ValidateCaps(const CreateRequest &request);
  // The stored settings (rows of capabilities not registered are skipped).
  Result<CapList> LoadCaps(const VmRecord &vm);
  CapVm ViewOf(const VmRecord &vm) const { return CapVm{vm, Dir(vm)}; }
  Status ContributeSeed(const VmRecord &vm, SeedSpec &seed);
  Status ContributeQemu(const VmRecord &vm, VmSpec &spec);
  // Each OnReady (OnAdopt when `adopted`); the VM counts as "caps up" from
  // here until StopCaps, even when one fails (StopCaps then undoes the rest).
  Status ReadyCaps(const VmRecord &vm, bool adopted) EXCLUDES(caps_up_mu_);
  // OnStop in reverse order, once per ReadyCaps (`always`: regardless, for a
  // VM whose previous daemon may have left things behind).
  void StopCaps(const VmRecord &vm, bool always = false) EXCLUDES(caps_up_mu_);
  // StopCaps, then OnDelete in reverse order (from the stored settings).
  void DeleteCaps(const VmRecord &vm) EXCLUDES(caps_up_mu_);
  // QEMU exited on its own: the worker below runs StopCaps under the VM's lock
  // (the watcher thread cannot take it: Halt holds it waiting for that exit).
  void QueueExited(const std::string &id) EXCLUDES(exited_mu_);
  void ExitWorker(std::stop_token stop) EXCLUDES(exited_mu_);

  // create: vm_create.cc. Everything a create checks and reserves before its
  // op starts (memory share, name, address, record); fills a clone's shape.
  Result<VmRecord> AdmitAndReserve(CreateRequest &request);
  Result<VmRecord> Reserve(const std::string &id, const CreateRequest &request,
                           const CapList &caps) EXCLUDES(create_mu_);
  Result<nlohmann::json> RunCreate(const std::string &id, OpContext &ctx);
  Status CreateSteps(VmRecord &vm, OpContext &ctx);
  // `qemu-img create` of a qcow2 `overlay` over `backing` (of `format`),
  // `size` ("4G") or, empty, the backing's.
  Status CreateOverlay(const std::filesystem::path &backing, std::string_view format,
                       const std::filesystem::path &overlay, const std::string &size,
                       std::stop_token stop);
  // A qcow2 overlay over `backing` (of `format`) as the VM's disk.
  Status OverlayDisk(const VmRecord &vm, const std::filesystem::path &backing,
                     std::string_view format, std::stop_token stop);
  // Writes the VM's seed (with a new SSH host key, returned: a clone's agent
  // installs it too) and host_key.pub.
  Result<Ed25519Key> WriteSeed(const VmRecord &vm, std::stop_token stop);
  // Clones (vm_clone.cc): the request filled with the snapshot's shape, or
  // why it cannot be cloned.
  Status CloneShape(CreateRequest &request);
  // A clone's boot (after CreateSteps' overlay on the snapshot's disk and a
  // seed of its own with `host_key`): a QEMU that resumes the snapshot and
  // re-identifies the guest before its TAP comes up.
  Status BootClone(VmRecord &vm, OpContext &ctx, const Ed25519Key &host_key);
  // Undoes every create step from the record alone (idempotent; used by
  // Recover).
  void RollbackCreate(const VmRecord &vm) EXCLUDES(procs_mu_);

  // The QEMU spec of the VM's own boot (its disk, seed, sockets), before its
  // capabilities' ContributeQemu (which may start helpers, e.g. virtiofsd).
  VmSpec SpecOf(const VmRecord &vm, const ImageBoot &image) const;
  // boot/halt: vm_lifecycle.cc. Both run under the VM's lock.
  // With `resume`, QEMU starts paused waiting for a snapshot's state, loads
  // it and resumes the guest instead of booting.
  Status Boot(VmRecord &vm, std::stop_token stop, OpContext *ctx,
              const ResumeFrom *resume = nullptr) EXCLUDES(procs_mu_);
  // `keep_memory`: the VM keeps its share of the memory budget (a restart,
  // which boots it again under the same hold of its lock).
  Status Halt(VmRecord &vm, bool force, std::chrono::milliseconds timeout,
              bool keep_memory = false) EXCLUDES(procs_mu_);
  // After a failed boot (`what`: "start", "restore"): the VM holds nothing
  // (process, TAP, capabilities, memory share) and is recorded as failed.
  void LeaveFailedLocked(VmRecord &vm, const Status &st, const char *what)
      EXCLUDES(procs_mu_);
  // Steps a resumed guest's clock to the host's through its agent; best
  // effort (a guest without the agent keeps its clock, with a warning).
  void StepGuestClock(const VmRecord &vm);
  void OnExit(const std::string &id, pid_t pid, const QemuExit &exit);
  Status Save(const VmRecord &vm);
  void RotateLog(const std::filesystem::path &log) const;

  std::unique_ptr<VmProcess> TakeProcess(const std::string &id)
      EXCLUDES(procs_mu_);
  void PutProcess(const std::string &id, std::unique_ptr<VmProcess> proc)
      EXCLUDES(procs_mu_);

  // Immutable after construction.
  const VmManagerOptions options_;
  const VmManagerDeps deps_;
  const IpAllocator ips_;

  VmLockSet vm_locks_;
  // Admission control: shares are taken before anything of a create or start
  // is written and given back when the VM stops holding memory.
  MemoryBudget budget_;
  // createVMMu: name uniqueness + IP allocation + record insert, nothing else
  // (snapshot names included: a clone's record and the snapshot it needs are
  // checked together).
  Mutex create_mu_{LockRank::kRegistry, "createVMMu"};
  std::set<std::string, std::less<>> snapshots_in_flight_ GUARDED_BY(create_mu_);

  Mutex exporting_mu_{LockRank::kLeaf, "vm_exporting"};
  // VM ids whose disk ExportDisk is copying (without their lock); added and
  // checked under the VM's lock.
  std::set<std::string, std::less<>> exporting_ GUARDED_BY(exporting_mu_);

  // Taken under createVMMu or alone, never the other way (clang checks the
  // declared order; LockRank checks it at runtime).
  Mutex procs_mu_ ACQUIRED_AFTER(create_mu_){LockRank::kLeaf, "vm_procs"};
  // Hypervisor handles of booted VMs, by id. A handle is kept after its process
  // exits (its exit callback may not destroy it) until the VM's lock holder
  // drops it.
  std::map<std::string, std::unique_ptr<VmProcess>, std::less<>>
      procs_ GUARDED_BY(procs_mu_);

  // Snapshots' RAM as sealed memfds that clones map (snapshot_ram.h); its
  // lock is a leaf.
  SnapshotRamCache ram_cache_;

  Mutex caps_up_mu_{LockRank::kLeaf, "vm_caps_up"};
  // VM ids whose capabilities' OnReady ran and OnStop has not yet.
  std::set<std::string, std::less<>> caps_up_ GUARDED_BY(caps_up_mu_);

  Mutex exited_mu_{LockRank::kLeaf, "vm_exited"};
  CondVar exited_cv_{&exited_mu_};
  // Ids of VMs whose QEMU exited on its own, for ExitWorker.
  std::deque<std::string> exited_ GUARDED_BY(exited_mu_);
  bool closing_ GUARDED_BY(exited_mu_) = false;
  // Last: started by the constructor once everything above exists; stopped and
  // joined by the destructor after the QEMU watchers (which feed it).
  std::jthread exit_worker_;
};

} // namespace warren

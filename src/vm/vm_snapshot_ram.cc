// A snapshot's guest RAM set apart from its state, so clones map it instead
// of copying it (docs/SNAPSHOTS.md, "Guest RAM apart").
//
// QEMU 7.2 cannot write a migration stream's RAM as a mappable file (the
// "mapped-ram" format is QEMU 9), but it can leave RAM out of the stream
// when RAM is a shared file (x-ignore-shared): the file then holds it in
// place. A running VM's RAM is anonymous (KSM merges only anonymous pages,
// so VMs keep it), so the snapshot is first saved whole, as before; then a
// short-lived QEMU of the same shape, whose RAM is the snapshot's `ram` file
// mapped shared, loads that state (writing the guest's pages into the file)
// and saves its devices alone. Its guest never runs: it is launched paused
// and killed once the state is written. Its TAP (QEMU loads a virtio-net
// state only over a TAP) stays down.
//
// A clone's QEMU maps `ram` private (copy-on-write) from a sealed memfd
// (snapshot_ram.h) and loads the small state: what it never writes stays
// shared with every other clone of the snapshot.
#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "sys/files.h"
#include "vm/vm_manager.h"
#include <spdlog/spdlog.h>

namespace warren {
namespace {

namespace fs = std::filesystem;

constexpr const char *kHelperPid = "ram-helper.pid";
constexpr const char *kHelperDisk = "ram-helper.qcow2";
constexpr const char *kHelperSerial = "ram-helper.serial";
constexpr const char *kHelperLog = "ram-helper.log";
constexpr const char *kStateApart = "state.apart";
// -name of the helper QEMU (what `ps` shows).
constexpr const char *kHelperName = "warren-snapshot-ram";

// A locally administered unicast MAC for the helper's TAP, so it never
// shares one with the VM's own TAP on the bridge.
MacAddress HelperMac() {
  const std::string hex = RandomHex(5);
  MacAddress mac{0x02};
  for (size_t i = 0; i < 5; ++i) mac[i + 1] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return mac;
}

// The RAM file takes what the state's RAM took (its non-zero pages): a disk
// without that much room would make QEMU's writes to the mapped file fault
// half-way. Said before anything is started.
Status CheckRoomForRam(const fs::path &dir) {
  std::error_code ec;
  const uintmax_t state = fs::file_size(dir / VmManager::kSnapshotState, ec);
  struct statvfs vfs {};
  if (ec || ::statvfs(dir.c_str(), &vfs) != 0) return Status::Ok();  // the writes will tell
  const uint64_t free = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  const uint64_t need = state + (64u << 20);  // a margin for the filesystem
  if (free >= need) return Status::Ok();
  return ResourceExhausted("not enough free disk in " + dir.parent_path().string() +
                           " for the RAM file: " + std::to_string(need >> 20) + " MiB needed, " +
                           std::to_string(free >> 20) + " MiB free; free some space");
}

}  // namespace

Status VmManager::SeparateRam(const VmRecord &vm, const fs::path &dir) {
  ASSIGN_OR_RETURN(ImageBoot image, deps_.images(vm.image));
  const fs::path ram = dir / kSnapshotRam;
  const fs::path apart = dir / kStateApart;
  const std::string tag = RandomHex(4);
  // No capability adds to it: the only one that adds devices, share
  // (vhost-user-fs), makes QEMU refuse to save the VM at all, so a VM that
  // got this far has none; and ContributeQemu would start its helpers again.
  VmSpec spec = SpecOf(vm, image);
  spec.name = kHelperName;
  spec.disk = dir / kHelperDisk;
  spec.seed = dir / kSnapshotSeed;
  spec.serial_log = dir / kHelperSerial;
  spec.qmp_socket = options_.run_dir / ("ram-" + tag + ".qmp");
  spec.agent_socket = options_.run_dir / ("ram-" + tag + ".agent");
  spec.pid_file = dir / kHelperPid;
  spec.incoming = true;
  spec.ram_file = ram;
  spec.ram_shared = true;
  auto tidy = [&](bool keep_ram) {
    std::error_code ignored;
    for (const char *f : {kHelperPid, kHelperDisk, kHelperSerial, kHelperLog, kStateApart})
      fs::remove(dir / f, ignored);
    fs::remove(spec.qmp_socket, ignored);
    fs::remove(spec.agent_socket, ignored);
    if (!keep_ram) fs::remove(ram, ignored);
  };

  RETURN_IF_ERROR(CheckRoomForRam(dir).Annotate("set the RAM of the snapshot apart"));
  // The RAM file: sparse, as large as the guest's memory; QEMU writes only
  // the pages that are not zero.
  {
    UniqueFd fd(::open(ram.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoError("create " + ram.string(), errno);
    if (::ftruncate(fd.get(), static_cast<off_t>(vm.memory_mib) << 20) != 0) {
      Status st = ErrnoError("size " + ram.string(), errno);
      tidy(false);
      return st;
    }
  }
  // Its own overlay on the snapshot's disk: QEMU activates the disk when the
  // load completes, and the snapshot's disk is never opened for writing.
  Status st = CreateOverlay(dir / kSnapshotDisk, "qcow2", spec.disk, "", {});
  Result<Tap> tap = st.ok() ? deps_.taps->Take(HelperMac()) : Result<Tap>(st);
  if (!tap.ok()) {
    tidy(false);
    return tap.error().Annotate("set the RAM of the snapshot apart");
  }
  st = deps_.taps->SetUp(tap->name, false);
  std::unique_ptr<VmProcess> helper;
  if (st.ok()) {
    Result<std::unique_ptr<VmProcess>> launched = deps_.hypervisor->Launch(
        spec, tap->fd.get(), -1, dir / kHelperLog, [](const QemuExit &) {});
    if (launched.ok()) helper = std::move(launched).value();
    st = launched.status();
  }
  if (st.ok()) {
    Step(vm.name, "snapshot-ram");
    UniqueFd in(::open((dir / kSnapshotState).c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd out(::open(apart.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!in.valid() || !out.valid()) st = ErrnoError("open the states in " + dir.string(), errno);
    if (st.ok()) st = helper->LoadState(in.get(), GuestRam::kInState, kStateTimeout);
    if (st.ok()) st = helper->SaveState(out.get(), GuestRam::kApart, kStateTimeout);
    if (st.ok() && ::fsync(out.get()) != 0) st = ErrnoError("fsync " + apart.string(), errno);
  }
  if (helper) {
    Status killed = helper->Kill();
    if (!killed.ok()) spdlog::warn("snapshot RAM helper: {}", killed.ToString());
  }
  Status released = deps_.taps->Release(tap->name);
  if (!released.ok()) spdlog::warn("snapshot RAM helper: {}", released.ToString());
  if (st.ok()) st = SyncPath(ram, O_RDONLY);
  if (st.ok()) {
    std::error_code ec;
    fs::rename(apart, dir / kSnapshotState, ec);
    if (ec) st = Internal("replace the state in " + dir.string() + ": " + ec.message());
  }
  tidy(st.ok());
  return st.Annotate("set the RAM of the snapshot apart");
}

void VmManager::KillRamHelper(const fs::path &dir) {
  std::ifstream in(dir / kHelperPid);
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 1) return;
  // Only the QEMU that wrote this pid file: a pid may have been reused.
  std::optional<std::vector<std::string>> argv = ProcCmdline(pid);
  const std::string pid_file = (dir / kHelperPid).string();
  bool ours = false;
  for (size_t i = 0; argv && i + 1 < argv->size(); ++i) {
    ours = ours || ((*argv)[i] == "-pidfile" && (*argv)[i + 1] == pid_file);
  }
  if (!ours) return;
  spdlog::info("snapshot: ending the RAM helper QEMU (pid {}) an interrupted snapshot left", pid);
  ::kill(pid, SIGKILL);
  // Not our child (the daemon that started it is gone): wait for it to vanish.
  for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace warren

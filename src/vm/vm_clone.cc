// Clones: `vm create NEW --from SNAP`, a VM that resumes a snapshot's guest
// instead of booting one, made a distinct machine before it is seen.
//
// The clone's disk is a qcow2 overlay on the snapshot's frozen disk; its QEMU
// has the snapshot's shape (the saved device state loads into nothing else)
// and the snapshot's seed disk while it resumes (the guest holds that seed
// mounted), but its own TAP. A seed of its own is written for its later cold
// boots. The resumed guest still carries its parent's MAC, address, hostname
// and host key, so its TAP is held down from before its first instruction
// (everything it sends is dropped) until the guest agent has given it the
// clone's identity, clock and a fresh RNG seed; only then does the TAP come
// up and the wait for SSH (with the clone's pinned host key) begin.

#include "vm/vm_manager.h"
#include <spdlog/spdlog.h>

namespace warren {
namespace {

// A re-identification runs a few commands in the guest (under TCG: about a
// second; a loaded host, more).
constexpr auto kReidentifyTimeout = std::chrono::seconds(30);
// Reaching the resumed agent: it was waiting in its read when the snapshot
// was taken, so it answers at once.
constexpr auto kAgentReach = std::chrono::seconds(10);


// "the snapshot's N" unless `asked` is unset (0) or equal.
Status SameAsSnapshot(const char *what, int64_t asked, int64_t snap, const std::string &name) {
  if (asked == 0 || asked == snap) return Status::Ok();
  return InvalidArgument("a clone has its snapshot's " + std::string(what) + " (" +
                         std::to_string(snap) + " for snapshot \"" + name + "\"), not " +
                         std::to_string(asked) + ": drop that flag, or create without --from");
}

}  // namespace

Status VmManager::CloneShape(CreateRequest &request) {
  ASSIGN_OR_RETURN(SnapshotRecord snap, deps_.store->GetSnapshot(request.from_snapshot));
  if (!snap.agent) {
    return FailedPrecondition(
        "snapshot \"" + snap.name + "\" cannot be cloned: its guest did not answer warren's "
        "guest agent when it was taken, and a clone needs it to get its own address, MAC and "
        "host key (docs/SNAPSHOTS.md says what an image needs); `warren vm restore " +
        snap.vm_name + " " + snap.name + "` still works");
  }
  if (!request.image.empty() && request.image != snap.image) {
    return InvalidArgument("a clone has its snapshot's image (\"" + snap.image +
                           "\" for snapshot \"" + snap.name + "\"), not \"" + request.image +
                           "\": drop --image, or create without --from");
  }
  RETURN_IF_ERROR(SameAsSnapshot("vCPUs", request.cpus, snap.cpus, snap.name));
  RETURN_IF_ERROR(SameAsSnapshot("memory in MiB", request.memory_mib, snap.memory_mib, snap.name));
  RETURN_IF_ERROR(SameAsSnapshot("disk in GiB", request.disk_gib, snap.disk_gib, snap.name));
  request.image = snap.image;
  request.cpus = static_cast<int>(snap.cpus);
  request.memory_mib = static_cast<int>(snap.memory_mib);
  request.disk_gib = static_cast<int>(snap.disk_gib);
  return Status::Ok();
}

Status VmManager::BootClone(VmRecord &vm, OpContext &ctx, const Ed25519Key &host_key) {
  GuestIdentity identity;
  ASSIGN_OR_RETURN(identity.mac, ParseMac(vm.mac));
  identity.ip_cidr = vm.ip + "/" + std::to_string(ips_.prefix_len());
  identity.gateway = ips_.Gateway();
  identity.hostname = vm.name;
  identity.dns = ips_.Gateway();
  identity.host_key_private_openssh = host_key.OpensshPrivateFile();
  identity.host_key_dropbear = host_key.DropbearPrivateFile();
  identity.random_seed_hex = RandomHex(32);
  ResumeFrom resume = ResumeFromSnapshot(vm.snapshot);
  resume.identity = &identity;
  return Boot(vm, ctx.stop(), &ctx, &resume);
}

Status VmManager::Reidentify(const VmRecord &vm, const GuestIdentity &asked) {
  Result<std::unique_ptr<GuestAgent>> agent = ReachAgent(vm, kAgentReach);
  if (!agent.ok())
    return agent.error().Annotate("reach the guest agent of " + vm.name);
  GuestIdentity identity = asked;
  // Now, not when the identity was made: the guest's clock is stepped to it.
  identity.unix_time_ns = deps_.clock->NowUnixMillis() * 1'000'000;
  RETURN_IF_ERROR((*agent)->Reidentify(identity, kReidentifyTimeout)
                      .Annotate("re-identify the guest as " + vm.name));
  spdlog::info("vm {}: re-identified as {} ({})", vm.name, vm.ip, vm.mac);
  return Status::Ok();
}

}  // namespace warren

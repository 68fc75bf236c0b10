// vm.snapshot (an op), vm.restore, snapshot.list / inspect / delete.
#include "rpc/resource_json.h"
#include "rpc/services.h"
#include "vm/vm_manager.h"

namespace warren::rpc {
namespace {

using json = nlohmann::json;

struct SnapshotParams {
  std::string name, snapshot;
  bool stop = false;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the VM"),
      Str("snapshot", kOptional, "the snapshot's name (default: VM-YYYYMMDD-HHMMSS, UTC)"),
      Bool("stop", "stop the VM after the snapshot instead of resuming it"),
  });
  static Result<SnapshotParams> FromJson(const json& p) {
    SnapshotParams r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateVmName(r.name));
    r.snapshot = p.value("snapshot", std::string());
    r.stop = p.value("stop", false);
    return r;
  }
};

struct RestoreParams {
  std::string name, snapshot;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the VM"),
      Str("snapshot", kRequired, "one of the VM's own snapshots"),
  });
  static Result<RestoreParams> FromJson(const json& p) {
    RestoreParams r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateVmName(r.name));
    ASSIGN_OR_RETURN(r.snapshot, RequiredString(p, "snapshot"));
    return r;
  }
};

struct SnapshotNameParams {
  std::string name;
  static constexpr auto kParams =
      std::to_array<ParamSpec>({Str("name", kRequired, "the snapshot")});
  static Result<SnapshotNameParams> FromJson(const json& p) {
    SnapshotNameParams r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    return r;
  }
};

LockWait Waiting(CallContext& ctx, const std::string& vm) {
  return {ctx.stop, [&ctx, vm](const std::string& holder) {
            if (ctx.notify) (void)ctx.notify("vm.waiting", json{{"vm", vm}, {"holder", holder}});
          }};
}

// image.snapshot: a snapshot of a freshly booted VM of an image.
struct ImageSnapshotParams {
  std::string image, snapshot;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the image"),
      Str("snapshot", kOptional, "the snapshot's name (default: the image's)"),
  });
  static Result<ImageSnapshotParams> FromJson(const json& p) {
    ImageSnapshotParams r;
    ASSIGN_OR_RETURN(r.image, RequiredString(p, "name"));
    ASSIGN_OR_RETURN(r.snapshot, OptionalString(p, "snapshot"));
    if (r.snapshot.empty()) r.snapshot = r.image;
    return r;
  }
};

#define WARREN_SNAPSHOT_SHAPE                                                             \
  "Snapshot {name, vm, vm_id, image, cpus, memory_mib, disk_gib, mac, ip, size_bytes, " \
  "files: {file: bytes}, created_ms, agent: bool (clones can be made), parent}"

}  // namespace

std::vector<MethodRow> SnapshotMethods(const Services& s) {
  VmManager* vms = s.vms;
  return {
      Method<SnapshotParams>(
          "vm.snapshot", Mutation::kMutating,
          {.summary = "Starts a snapshot of a running VM (memory, devices and disk at one "
                      "instant) as an op; the guest resumes afterwards unless stop.",
           .result = "{op, name}: follow the op with op.wait; its result is the Snapshot",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kAlreadyExists, "a snapshot of that name exists"},
                      {Code::kInvalidArgument, "a bad snapshot name"},
                      {Code::kFailedPrecondition, "the VM is not running"}}},
          [vms](const SnapshotParams& r, CallContext&) -> Result<json> {
            ASSIGN_OR_RETURN(std::string op, vms->SnapshotVM(r.name, r.snapshot, r.stop));
            return json{{"op", op}, {"name", r.name}};
          }),
      Method<ImageSnapshotParams>(
          "image.snapshot", Mutation::kMutating,
          {.summary = "Starts an op that boots a VM of the image (the [vm] defaults' shape), "
                      "snapshots it once ready and deletes it: what vm.create's from clones.",
           .result = "{op, name}: follow the op with op.wait; its result is the Snapshot",
           .errors = {{Code::kNotFound, "no such image"},
                      {Code::kAlreadyExists, "a snapshot of that name exists"},
                      {Code::kInvalidArgument, "a bad snapshot name"},
                      {Code::kResourceExhausted, "the VM would exceed [vm] memory_budget"}}},
          [s](const ImageSnapshotParams& r, CallContext&) -> Result<json> {
            CreateRequest shape;
            shape.image = r.image;
            shape.cpus = static_cast<int>(s.config->vm.default_cpus);
            shape.memory_mib = static_cast<int>(s.config->vm.default_memory_mib);
            shape.disk_gib = static_cast<int>(s.config->vm.default_disk_gib);
            ASSIGN_OR_RETURN(std::string op, s.vms->SnapshotImage(shape, r.snapshot));
            return json{{"op", op}, {"name", r.snapshot}};
          }),
      Method<RestoreParams>(
          "vm.restore", Mutation::kMutating,
          {.summary = "Rolls a VM back to one of its own snapshots (its QEMU is replaced; "
                      "sessions to the old guest end) and waits for its guest.",
           .result = "VM",
           .errors = {{Code::kNotFound, "no such VM or snapshot"},
                      {Code::kFailedPrecondition,
                       "the snapshot is another VM's, or the VM's disk is being promoted"},
                      {Code::kCancelled, "the client went away while waiting for the VM"}},
           .notifications = "vm.waiting {vm, holder} while another call or op holds the VM"},
          [s](const RestoreParams& r, CallContext& ctx) -> Result<json> {
            RETURN_IF_ERROR(s.vms->RestoreVM(r.name, r.snapshot, Waiting(ctx, r.name)));
            ASSIGN_OR_RETURN(VmRecord vm, s.vms->Get(r.name));
            return VmJson(vm, s.network.dns_domain);
          }),
      Method<NoParams>("snapshot.list", Mutation::kReadOnly,
                       {.summary = "Lists the snapshots, oldest first.",
                        .result = "{snapshots: [" WARREN_SNAPSHOT_SHAPE "]}",
                        .errors = {}},
                       [vms](const NoParams&, CallContext&) -> Result<json> {
                         ASSIGN_OR_RETURN(std::vector<SnapshotRecord> all, vms->ListSnapshots());
                         json list = json::array();
                         for (const SnapshotRecord& snap : all)
                           list.push_back(SnapshotRecordToJson(snap));
                         return json{{"snapshots", list}};
                       }),
      Method<SnapshotNameParams>("snapshot.inspect", Mutation::kReadOnly,
                                 {.summary = "Shows one snapshot.",
                                  .result = WARREN_SNAPSHOT_SHAPE,
                                  .errors = {{Code::kNotFound, "no such snapshot"}}},
                                 [vms](const SnapshotNameParams& r, CallContext&) -> Result<json> {
                                   ASSIGN_OR_RETURN(SnapshotRecord snap, vms->GetSnapshot(r.name));
                                   return SnapshotRecordToJson(snap);
                                 }),
      Method<SnapshotNameParams>(
          "snapshot.delete", Mutation::kMutating,
          {.summary = "Deletes a snapshot and its files; refused while a VM's disk is backed "
                      "by it.",
           .result = "{name}",
           .errors = {{Code::kNotFound, "no such snapshot"},
                      {Code::kFailedPrecondition,
                       "VMs cloned from it, or snapshots of those clones, exist (named)"}}},
          [vms](const SnapshotNameParams& r, CallContext&) -> Result<json> {
            RETURN_IF_ERROR(vms->DeleteSnapshot(r.name));
            return json{{"name", r.name}};
          }),
  };
}

}  // namespace warren::rpc

// vm.*: create (an op), list, inspect, start, stop, restart, rm, logs, egress.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "image/registry.h"
#include "rpc/frame.h"
#include "rpc/resource_json.h"
#include "rpc/services.h"
#include "sys/unique_fd.h"
#include "vm/vm_manager.h"

namespace warren::rpc {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr uint32_t kMaxStream = UINT32_MAX;
// vm.create's caps (user-data scripts and keys are the bulk of it).
inline constexpr size_t kMaxCapsBytes = 1 << 20;

struct NameRequest {
  std::string name;
  static constexpr auto kParams = std::to_array<ParamSpec>({Str("name", kRequired, "the VM")});
  static Result<NameRequest> FromJson(const json& p) {
    NameRequest r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateVmName(r.name));
    return r;
  }
};

struct CreateParams {
  CreateRequest req;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the new VM's name"),
      Str("image", kOptional, "the image to boot; default: the config's vm.default_image"),
      Int("cpus", kOptional, "vCPUs; 0 = the config's default", 0, 1024),
      Int("memory_mib", kOptional, "memory in MiB; 0 = the config's default", 0, 1 << 24),
      Int("disk_gib", kOptional, "disk size in GiB; 0 = the config's default", 0, 1 << 16),
      Obj("caps", kOptional,
          "capabilities: {name: request}, e.g. {\"share\": [\"/src:/mnt/src:ro\"]}; "
          "names and request shapes in docs/CAPABILITIES.md",
          kMaxCapsBytes),
      Str("from", kOptional,
          "a snapshot to clone: the VM resumes it instead of booting, with its own identity; "
          "image, cpus, memory_mib and disk_gib are then the snapshot's"),
  });
  // Defaults come from the config, applied by the handler when a field is 0/"".
  static Result<CreateParams> FromJson(const json& p) {
    CreateParams r;
    ASSIGN_OR_RETURN(r.req.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateVmName(r.req.name));
    ASSIGN_OR_RETURN(r.req.image, OptionalString(p, "image"));
    ASSIGN_OR_RETURN(int64_t cpus, OptionalInt(p, "cpus"));
    ASSIGN_OR_RETURN(int64_t memory, OptionalInt(p, "memory_mib"));
    ASSIGN_OR_RETURN(int64_t disk, OptionalInt(p, "disk_gib"));
    r.req.cpus = static_cast<int>(cpus);
    r.req.memory_mib = static_cast<int>(memory);
    r.req.disk_gib = static_cast<int>(disk);
    // Each capability checks its own member (VmManager::CreateVM → Validate).
    if (auto caps = p.find("caps"); caps != p.end() && !caps->is_null()) r.req.caps = *caps;
    ASSIGN_OR_RETURN(r.req.from_snapshot, OptionalString(p, "from"));
    return r;
  }
};

struct StopParams {
  std::string name;
  bool force = false;
  int64_t timeout_s = 30;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the VM"),
      Bool("force", "stop: kill without a clean shutdown; rm: remove even if running"),
      Int("timeout_s", kOptional, "how long a clean shutdown may take (default 30)", 0, 3600),
  });
  static Result<StopParams> FromJson(const json& p) {
    StopParams r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateVmName(r.name));
    ASSIGN_OR_RETURN(r.force, OptionalBool(p, "force"));
    ASSIGN_OR_RETURN(r.timeout_s, OptionalInt(p, "timeout_s", 30));
    if (r.timeout_s < 0 || r.timeout_s > 3600) {
      return InvalidArgument("timeout_s must be 0..3600 seconds, got " +
                             std::to_string(r.timeout_s));
    }
    return r;
  }
};

struct LogsParams {
  std::string name;
  int64_t stream = 1;
  bool follow = false;
  int64_t tail_bytes = 0;  // 0 = from the start
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the VM"),
      Int("stream", kOptional, "the stream id the console log is sent on (default 1)", 1,
          kMaxStream),
      Bool("follow", "keep sending what the guest writes"),
      Int("tail_bytes", kOptional, "start this many bytes before the end; 0 = the start", 0,
          kNoMax),
  });
  static Result<LogsParams> FromJson(const json& p) {
    LogsParams r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateVmName(r.name));
    ASSIGN_OR_RETURN(r.stream, OptionalInt(p, "stream", 1));
    ASSIGN_OR_RETURN(r.follow, OptionalBool(p, "follow"));
    ASSIGN_OR_RETURN(r.tail_bytes, OptionalInt(p, "tail_bytes"));
    if (r.stream < 1 || r.stream > UINT32_MAX) return InvalidArgument("stream must be a u32 > 0");
    if (r.tail_bytes < 0) return InvalidArgument("tail_bytes must be >= 0");
    return r;
  }
};

struct PromoteParams {
  std::string vm, image;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("vm", kRequired, "the VM whose disk becomes the image"),
      Str("name", kRequired, "the new image's name"),
  });
  static Result<PromoteParams> FromJson(const json& p) {
    PromoteParams r;
    ASSIGN_OR_RETURN(r.vm, RequiredString(p, "vm"));
    RETURN_IF_ERROR(ValidateVmName(r.vm));
    ASSIGN_OR_RETURN(r.image, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateImageName(r.image));
    return r;
  }
};

// vm.egress: a capability change (caps/egress.h checks the spec).
struct EgressParams {
  std::string name, spec;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the VM"),
      Str("spec", kRequired, "none, all, or IPv4 ranges like 192.0.2.0/24,10.0.0.0/8"),
  });
  static Result<EgressParams> FromJson(const json& p) {
    EgressParams r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateVmName(r.name));
    ASSIGN_OR_RETURN(r.spec, RequiredString(p, "spec"));
    return r;
  }
};

// How a call waits for a VM's lock: cancellable ($/cancel, disconnect), and the
// client hears `vm.waiting` {vm, holder} while another call or op holds it.
LockWait ClientWait(CallContext& ctx, const std::string& vm) {
  return {ctx.stop, [&ctx, vm](const std::string& holder) {
            if (ctx.notify) (void)ctx.notify("vm.waiting", json{{"vm", vm}, {"holder", holder}});
          }};
}

// vm.publish / vm.unpublish: one published port added to or taken from a VM,
// live when it runs (the "publish" capability's Change).
struct PublishParams {
  std::string name, spec;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("name", kRequired, "the VM"),
      Str("spec", kRequired, "[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp], e.g. 8080:80"),
  });
  static Result<PublishParams> FromJson(const json& p) {
    PublishParams r;
    ASSIGN_OR_RETURN(r.name, RequiredString(p, "name"));
    RETURN_IF_ERROR(ValidateVmName(r.name));
    ASSIGN_OR_RETURN(r.spec, RequiredString(p, "spec"));
    return r;
  }
};

Result<json> ChangePublish(const Services& s, const PublishParams& r, const char* verb,
                           CallContext& ctx) {
  RETURN_IF_ERROR(
      s.vms->ChangeCapability(r.name, "publish", {{verb, r.spec}}, ClientWait(ctx, r.name))
          .status());
  ASSIGN_OR_RETURN(VmRecord vm, s.vms->Get(r.name));
  ASSIGN_OR_RETURN(json caps, s.vms->DescribeCaps(vm));  // with "listening" now
  return json{{"name", r.name}, {"ports", caps.value("publish", json::array())}};
}

// image.promote: the VM's lock to check and mark it (ExportDisk), then the copy
// and the image lock (inside RegisterImage) without it.
Result<json> Promote(const Services& s, const PromoteParams& r, CallContext& ctx) {
  std::stop_token stop = ctx.stop;
  json out;
  RETURN_IF_ERROR(s.vms->ExportDisk(
      r.vm,
      [&](const VmRecord& vm, const ImageBoot& boot, const std::filesystem::path& raw) -> Status {
        ASSIGN_OR_RETURN(ImageInfo from, s.images->Get(vm.image));
        RegisterRequest req;
        req.name = r.image;
        req.kernel = boot.kernel;
        req.initrd = boot.initrd;
        req.rootfs = raw;
        req.cmdline = boot.cmdline;
        req.source = {{"type", "promoted"}, {"vm", vm.name}, {"image", vm.image}};
        req.facts = from.manifest.value("facts", json::object());
        ASSIGN_OR_RETURN(ImageInfo info, s.images->RegisterImage(req, stop));
        out = ImageInfoToJson(info);
        return Status::Ok();
      },
      ClientWait(ctx, r.vm)));
  return out;
}

json VmJson(const Services& s, const VmRecord& vm) {
  json j = ::warren::rpc::VmJson(vm, s.network.dns_domain);
  // What each capability reports (vm inspect, vm ls --json, the web UI).
  Result<json> caps = s.vms->DescribeCaps(vm);
  j["caps"] = caps.ok() ? *caps : json{{"error", caps.error().ToString()}};
  return j;
}

// Streams the serial log to the client from `offset`; with `follow`, keeps
// sending what the guest writes until the client goes away. A log rotated at
// boot (shorter than what was sent) is read again from its start.
Result<json> StreamLog(const std::filesystem::path& path, const LogsParams& r, CallContext& ctx) {
  const auto stream = static_cast<uint32_t>(r.stream);
  uint64_t sent = 0;
  off_t offset = 0;
  bool first = true;
  std::string buf(64 << 10, '\0');
  while (!ctx.stop.stop_requested()) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() >= 0) {
      off_t size = ::lseek(fd.get(), 0, SEEK_END);
      if (first && r.tail_bytes > 0 && size > r.tail_bytes) offset = size - r.tail_bytes;
      if (size < offset) offset = 0;  // rotated
      first = false;
      while (true) {
        ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), offset);
        if (n <= 0) break;
        RETURN_IF_ERROR(ctx.send_stream(stream, kChannelStdout,
                                        std::string_view(buf.data(), static_cast<size_t>(n))));
        offset += n;
        sent += static_cast<uint64_t>(n);
      }
    } else if (!r.follow) {
      return NotFound("VM \"" + r.name + "\" has no console log yet (it has not booted)");
    }
    if (!r.follow) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  return json{{"name", r.name}, {"bytes", sent}};
}

}  // namespace

std::vector<MethodRow> VmMethods(const Services& s) {
  VmManager* vms = s.vms;
  const VmConfig* defaults = &s.config->vm;
  return {
      Method<CreateParams>(
          "vm.create", Mutation::kMutating,
          {.summary = "Starts creating a VM (disk, seed, TAP, boot, SSH ready) as an op; defaults "
                      "from [vm].",
           .result = "{op, name}: follow the op with op.wait; its result is the VM",
           .errors = {{Code::kAlreadyExists, "a VM of that name exists"},
                      {Code::kNotFound, "no such image, or no such snapshot (from)"},
                      {Code::kFailedPrecondition,
                       "from: the snapshot's guest has no agent, or a capability needs a boot"},
                      {Code::kInvalidArgument,
                       "from: image, cpus, memory_mib or disk_gib other than the snapshot's"},
                      {Code::kResourceExhausted,
                       "the subnet has no free address, or the VM would exceed [vm] "
                       "memory_budget"}}},
          [vms, defaults](CreateParams r, CallContext&) -> Result<json> {
            // A clone takes its shape from its snapshot (VmManager::CloneShape).
            if (!r.req.from_snapshot.empty()) {
              ASSIGN_OR_RETURN(std::string op, vms->CreateVM(r.req));
              return json{{"op", op}, {"name", r.req.name}};
            }
            if (r.req.image.empty()) r.req.image = defaults->default_image;
            if (r.req.cpus == 0) r.req.cpus = static_cast<int>(defaults->default_cpus);
            if (r.req.memory_mib == 0)
              r.req.memory_mib = static_cast<int>(defaults->default_memory_mib);
            if (r.req.disk_gib == 0) r.req.disk_gib = static_cast<int>(defaults->default_disk_gib);
            ASSIGN_OR_RETURN(std::string op, vms->CreateVM(r.req));
            return json{{"op", op}, {"name", r.req.name}};
          }),
      Method<NoParams>("vm.list", Mutation::kReadOnly,
                       {.summary = "Lists the VMs.",
                        .result = "{vms: [VM {id, name, image, cpus, memory_mib, disk_gib, state, "
                                  "step, ip, mac, created_ms, started_ms, error, snapshot?, dns_name?}]}",
                        .errors = {}},
                       [s](const NoParams&, CallContext&) -> Result<json> {
                         ASSIGN_OR_RETURN(std::vector<VmRecord> all, s.vms->List());
                         json list = json::array();
                         for (const VmRecord& vm : all) list.push_back(VmJson(s, vm));
                         return json{{"vms", list}};
                       }),
      Method<NameRequest>("vm.inspect", Mutation::kReadOnly,
                          {.summary = "Shows one VM, with its TAP, QEMU pid and console log path.",
                           .result = "VM plus {tap, pid, console_log}",
                           .errors = {{Code::kNotFound, "no such VM"}}},
                          [s](const NameRequest& r, CallContext&) -> Result<json> {
                            ASSIGN_OR_RETURN(VmRecord vm, s.vms->Get(r.name));
                            json j = VmJson(s, vm);
                            j["tap"] = vm.tap;
                            j["pid"] = vm.pid;
                            ASSIGN_OR_RETURN(std::filesystem::path log, s.vms->LogPath(r.name));
                            j["console_log"] = log.string();
                            return j;
                          }),
      Method<NameRequest>(
          "vm.start", Mutation::kMutating,
          {.summary = "Boots a stopped VM and waits for its guest.",
           .result = "VM",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kFailedPrecondition,
                       "it is already running, or its disk is being promoted"},
                      {Code::kResourceExhausted, "the VM would exceed [vm] memory_budget"},
                      {Code::kUnavailable, "QEMU exited while the guest booted"},
                      {Code::kCancelled, "the client went away while waiting for the VM"}},
           .notifications = "vm.waiting {vm, holder} while another call or op holds the VM"},
          [s](const NameRequest& r, CallContext& ctx) -> Result<json> {
            RETURN_IF_ERROR(s.vms->StartVM(r.name, ClientWait(ctx, r.name)));
            ASSIGN_OR_RETURN(VmRecord vm, s.vms->Get(r.name));
            return VmJson(s, vm);
          }),
      Method<StopParams>(
          "vm.stop", Mutation::kMutating,
          {.summary = "Stops a VM (ACPI shutdown, killed after timeout_s; at once with force).",
           .result = "VM",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kCancelled, "the client went away while waiting for the VM"}},
           .notifications = "vm.waiting {vm, holder} while another call or op holds the VM"},
          [s](const StopParams& r, CallContext& ctx) -> Result<json> {
            RETURN_IF_ERROR(
                s.vms->StopVM(r.name, r.force, seconds(r.timeout_s), ClientWait(ctx, r.name)));
            ASSIGN_OR_RETURN(VmRecord vm, s.vms->Get(r.name));
            return VmJson(s, vm);
          }),
      Method<StopParams>(
          "vm.restart", Mutation::kMutating,
          {.summary = "Stops then starts a VM.",
           .result = "VM",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kFailedPrecondition, "its disk is being promoted"},
                      {Code::kResourceExhausted,
                       "a stopped VM would exceed [vm] memory_budget (a running one keeps its "
                       "share)"},
                      {Code::kCancelled, "the client went away while waiting for the VM"}},
           .notifications = "vm.waiting {vm, holder} while another call or op holds the VM"},
          [s](const StopParams& r, CallContext& ctx) -> Result<json> {
            RETURN_IF_ERROR(
                s.vms->RestartVM(r.name, seconds(r.timeout_s), ClientWait(ctx, r.name)));
            ASSIGN_OR_RETURN(VmRecord vm, s.vms->Get(r.name));
            return VmJson(s, vm);
          }),
      Method<StopParams>(
          "vm.rm", Mutation::kMutating,
          {.summary = "Deletes a VM, its disk and its IP lease.",
           .result = "{name, removed: true}",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kFailedPrecondition,
                       "it runs (without force), or its disk is being promoted"},
                      {Code::kCancelled, "the client went away while waiting for the VM"}},
           .notifications = "vm.waiting {vm, holder} while another call or op holds the VM"},
          [vms](const StopParams& r, CallContext& ctx) -> Result<json> {
            RETURN_IF_ERROR(vms->DeleteVM(r.name, r.force, ClientWait(ctx, r.name)));
            return json{{"name", r.name}, {"removed", true}};
          }),
      Method<EgressParams>(
          "vm.egress", Mutation::kMutating,
          {.summary = "Sets what a VM may reach outside (nat mode): none, all, or IPv4 ranges; "
                      "applied at once when it runs.",
           .result = "{name, egress}",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kInvalidArgument, "a bad spec, or one the network mode cannot enforce"},
                      {Code::kCancelled, "the client went away while waiting for the VM"}},
           .notifications = "vm.waiting {vm, holder} while another call or op holds the VM"},
          [vms](const EgressParams& r, CallContext& ctx) -> Result<json> {
            ASSIGN_OR_RETURN(json egress, vms->ChangeCapability(r.name, "egress", r.spec,
                                                                ClientWait(ctx, r.name)));
            return json{{"name", r.name}, {"egress", egress}};
          }),
      Method<PromoteParams>(
          "image.promote", Mutation::kMutating,
          {.summary = "Turns a stopped VM's disk into a new image.",
           .result = "IMAGE {name, created_ms, state, dir, manifest}",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kAlreadyExists, "an image of that name exists"},
                      {Code::kFailedPrecondition, "the VM is not stopped"},
                      {Code::kCancelled,
                       "the client went away while waiting for the VM or copying"}},
           .notifications = "vm.waiting {vm, holder} while another call or op holds the VM"},
          [s](const PromoteParams& r, CallContext& ctx) -> Result<json> {
            return Promote(s, r, ctx);
          }),
      Method<PublishParams>(
          "vm.publish", Mutation::kMutating,
          {.summary = "Publishes a guest port on the host ([HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]); "
                      "listening at once when the VM runs.",
           .result = "{name, ports: [{spec, listening}]}",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kInvalidArgument, "a bad spec"},
                      {Code::kAlreadyExists, "the host port is published by another VM or in use"},
                      {Code::kCancelled, "the client went away while waiting for the VM"}},
           .notifications = "vm.waiting {vm, holder} while another call or op holds the VM"},
          [s](const PublishParams& r, CallContext& ctx) -> Result<json> {
            return ChangePublish(s, r, "publish", ctx);
          }),
      Method<PublishParams>(
          "vm.unpublish", Mutation::kMutating,
          {.summary = "Stops publishing a port; its listener closes at once.",
           .result = "{name, ports: [{spec, listening}]}",
           .errors = {{Code::kNotFound, "no such VM, or the port is not published"},
                      {Code::kInvalidArgument, "a bad spec"},
                      {Code::kCancelled, "the client went away while waiting for the VM"}},
           .notifications = "vm.waiting {vm, holder} while another call or op holds the VM"},
          [s](const PublishParams& r, CallContext& ctx) -> Result<json> {
            return ChangePublish(s, r, "unpublish", ctx);
          }),
      Method<NameRequest>(
          "vm.ports", Mutation::kReadOnly,
          {.summary = "Lists a VM's published ports.",
           .result = "{name, ports: [{spec, listening}]}",
           .errors = {{Code::kNotFound, "no such VM"}}},
          [s](const NameRequest& r, CallContext&) -> Result<json> {
            ASSIGN_OR_RETURN(VmRecord vm, s.vms->Get(r.name));
            ASSIGN_OR_RETURN(json caps, s.vms->DescribeCaps(vm));
            return json{{"name", vm.name}, {"ports", caps.value("publish", json::array())}};
          }),
      Method<LogsParams>(
          "vm.logs", Mutation::kReadOnly,
          {.summary =
               "Sends the VM's serial console log as stream output; with follow, keeps sending.",
           .result = "{name, bytes}",
           .errors = {{Code::kNotFound, "no such VM, or it never booted"}},
           .notifications = "stream frames (channel 1) on the given stream id"},
          [vms](const LogsParams& r, CallContext& ctx) -> Result<json> {
            ASSIGN_OR_RETURN(std::filesystem::path log, vms->LogPath(r.name));
            return StreamLog(log, r, ctx);
          }),
  };
}

}  // namespace warren::rpc

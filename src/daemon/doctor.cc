#include "daemon/doctor.h"

#include <fmt/format.h>

#include <cstdint>

namespace warren {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

CheckResult Pass(std::string name, std::string found) {
  return {std::move(name), CheckLevel::kPass, std::move(found), ""};
}
CheckResult Warn(std::string name, std::string found, std::string fix) {
  return {std::move(name), CheckLevel::kWarn, std::move(found), std::move(fix)};
}
CheckResult Fail(std::string name, std::string found, std::string fix) {
  return {std::move(name), CheckLevel::kFail, std::move(found), std::move(fix)};
}

CheckResult CheckKvm(const DoctorInputs& in) {
  KvmFacts kvm = in.probe->ProbeKvm();
  Result<Accelerator> accel = ChooseAccelerator(in.accelerator_setting, kvm);
  if (!accel) {
    return Fail("kvm", kvm.detail + " but vm.accelerator = \"" + in.accelerator_setting + "\"",
                "set vm.accelerator = \"auto\" or \"tcg\" in the config");
  }
  switch (kvm.state) {
    case KvmState::kUsable:
      return Pass("kvm", "/dev/kvm usable (" + kvm.detail + "), will use KVM");
    case KvmState::kPvm:
      return Warn("kvm", kvm.detail + "; will use TCG",
                  "none needed; guests boot slower under TCG. A host with kvm_intel or kvm_amd "
                  "gives KVM");
    case KvmState::kAbsent:
      return Warn("kvm", "/dev/kvm absent; will use TCG",
                  "load kvm_intel or kvm_amd (modprobe) if the CPU supports virtualisation");
    case KvmState::kNoAccess:
      return Warn("kvm", "/dev/kvm present but not accessible (" + kvm.detail + "); will use TCG",
                  "run the daemon as root or add its user to the kvm group");
    case KvmState::kBroken:
      return Warn("kvm", "/dev/kvm present but unusable (" + kvm.detail + "); will use TCG",
                  "check dmesg for KVM errors");
  }
  return Fail("kvm", "unknown state", "report a bug");
}

CheckResult CheckTool(HostProbe* probe, const std::string& tool, const std::string& package,
                      CheckLevel missing_level, const std::string& needed_for) {
  std::optional<std::string> version = probe->ToolVersion(tool);
  if (version) return Pass(tool, *version);
  return {tool, missing_level, tool + " not found (" + needed_for + ")",
          "apt-get install " + package};
}

CheckResult CheckDisk(const DoctorInputs& in) {
  std::filesystem::path where = in.layout.root.empty() ? in.layout.state_dir : in.layout.root;
  Result<uint64_t> free = in.probe->FreeBytes(where);
  if (!free) return Fail("disk", free.error().message(), "check that " + where.string() + " exists");
  std::string found = fmt::format("{:.1f} GiB free under {}", double(*free) / kGiB, where.string());
  if (*free < 2 * kGiB) return Fail("disk", found, "free space: images need about 1 GiB each");
  if (*free < 10 * kGiB) return Warn("disk", found, "free space before building more images");
  return Pass("disk", found);
}

CheckResult CheckStore(const DoctorInputs& in) {
  Result<std::string> r = in.check_store();
  if (!r) {
    if (r.error().code() == Code::kNotFound) {
      return Pass("store", "no store yet (created at first daemon start)");
    }
    return Fail("store", r.error().message(), "restore " + in.layout.db_file.string() +
                                                  " from a backup or move it away to start fresh");
  }
  if (*r != "ok") {
    return Fail("store", "integrity_check: " + *r,
                "stop the daemon and restore " + in.layout.db_file.string() + " from a backup");
  }
  return Pass("store", in.layout.db_file.string() + " integrity ok");
}

CheckResult CheckDaemon(const DoctorInputs& in) {
  Result<std::string> version = in.daemon_version();
  if (!version) {
    // The client's message ends with its own advice; keep only the finding.
    std::string found = version.error().message();
    found = found.substr(0, found.find("; "));
    return Warn("daemon", found, "start it with `warren daemon`");
  }
  if (*version != in.cli_version) {
    return Fail("daemon", "daemon is version " + *version + ", this CLI is " + in.cli_version,
                "restart the daemon with this warren binary");
  }
  return Pass("daemon", "reachable, version " + *version);
}

}  // namespace

std::string_view CheckLevelName(CheckLevel level) {
  switch (level) {
    case CheckLevel::kPass: return "PASS";
    case CheckLevel::kWarn: return "WARN";
    case CheckLevel::kFail: return "FAIL";
  }
  return "?";
}

std::vector<CheckResult> Doctor(const DoctorInputs& in) {
  HostProbe* p = in.probe;
  std::vector<CheckResult> out;
  out.push_back(CheckKvm(in));
  out.push_back(p->TunAvailable()
                    ? Pass("tun", "/dev/net/tun opens")
                    : Fail("tun", "/dev/net/tun missing or not openable", "modprobe tun"));
  out.push_back(p->HasCapNetAdmin()
                    ? Pass("cap_net_admin", "effective")
                    : Fail("cap_net_admin", "not held: bridges and TAPs cannot be made",
                           "run the daemon as root"));
  Status netns = p->CanCreateNetns();
  out.push_back(netns.ok() ? Pass("netns", "network namespaces can be created")
                           : Fail("netns", netns.message(),
                                  "run as root on a kernel with CONFIG_NET_NS"));
  out.push_back(CheckTool(p, "qemu-system-x86_64", "qemu-system-x86", CheckLevel::kFail,
                          "runs every VM"));
  out.push_back(CheckTool(p, "qemu-img", "qemu-utils", CheckLevel::kFail, "makes VM disks"));
  out.push_back(CheckTool(p, "mkfs.ext4", "e2fsprogs", CheckLevel::kFail, "builds image roots"));
  out.push_back(CheckTool(p, "mmdebstrap", "mmdebstrap", CheckLevel::kWarn,
                          "image builds need it; `image register` works without"));
  out.push_back(CheckDisk(in));
  Status config = in.check_config();
  out.push_back(config.ok() ? Pass("config", in.layout.config_file.string() + " valid")
                            : Fail("config", config.message(), "fix the key named above"));
  out.push_back(CheckStore(in));
  out.push_back(CheckDaemon(in));
  if (out.back().level == CheckLevel::kPass && in.daemon_checks) {
    Result<std::vector<CheckResult>> daemon = in.daemon_checks();
    if (daemon.ok()) {
      out.insert(out.end(), daemon->begin(), daemon->end());
    } else {
      out.push_back(Warn("daemon checks", daemon.error().message(),
                         "see the daemon's log"));
    }
  }
  return out;
}

bool AnyFailed(const std::vector<CheckResult>& checks) {
  for (const auto& c : checks) {
    if (c.level == CheckLevel::kFail) return true;
  }
  return false;
}

}  // namespace warren

#include "sys/host_probe.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "sys/unique_fd.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

constexpr int kCapNetAdminBit = 12;
constexpr auto kVersionTimeout = std::chrono::seconds(10);

bool PathExists(const fs::path& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::string FirstLine(std::string_view text) {
  while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.remove_prefix(1);
  std::string_view line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  return std::string(line);
}

// The loaded hardware KVM module, for the detail line.
std::string HardwareModule(const fs::path& sys_module) {
  for (const char* m : {"kvm_intel", "kvm_amd"}) {
    if (PathExists(sys_module / m)) return std::string("module ") + m + " loaded";
  }
  return "no kvm_intel/kvm_amd module listed";
}

}  // namespace

std::string_view KvmStateName(KvmState state) {
  switch (state) {
    case KvmState::kAbsent:
      return "absent";
    case KvmState::kNoAccess:
      return "no-access";
    case KvmState::kPvm:
      return "pvm";
    case KvmState::kUsable:
      return "usable";
    case KvmState::kBroken:
      return "broken";
  }
  return "unknown";
}

KvmFacts RealHostProbe::ProbeKvm() {
  const std::string dev = paths_.dev_kvm.string();
  if (!PathExists(paths_.dev_kvm)) {
    return {KvmState::kAbsent, "no " + dev +
                                   "; load kvm_intel or kvm_amd (and enable "
                                   "virtualization in the firmware or the outer hypervisor)"};
  }
  // kvm_pvm answers the API like real KVM, but stock guest kernels hang under
  // it, so it must be ruled out before the ioctls could call it usable.
  if (PathExists(paths_.sys_module / "kvm_pvm")) {
    return {KvmState::kPvm, "module kvm_pvm loaded; stock guest kernels hang under it"};
  }
  UniqueFd kvm(::open(paths_.dev_kvm.c_str(), O_RDWR | O_CLOEXEC));
  if (!kvm.valid()) {
    const int err = errno;
    std::string why = "cannot open " + dev + ": " + std::strerror(err);
    if (err == EACCES || err == EPERM) {
      return {KvmState::kNoAccess, why + "; add the daemon's user to the kvm group"};
    }
    return {KvmState::kBroken, why};
  }
  int version = ::ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    std::string got = version < 0 ? std::string(std::strerror(errno)) : std::to_string(version);
    return {KvmState::kBroken, "KVM_GET_API_VERSION on " + dev + " gave " + got + ", want " +
                                   std::to_string(KVM_API_VERSION)};
  }
  UniqueFd vm(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
  if (!vm.valid()) {
    return {KvmState::kBroken, std::string("KVM_CREATE_VM failed: ") + std::strerror(errno)};
  }
  return {KvmState::kUsable,
          HardwareModule(paths_.sys_module) + ", API " + std::to_string(KVM_API_VERSION)};
}

bool RealHostProbe::TunAvailable() {
  UniqueFd fd(::open(paths_.dev_tun.c_str(), O_RDWR | O_CLOEXEC));
  return fd.valid();
}

bool RealHostProbe::HasCapNetAdmin() {
  std::ifstream in(paths_.proc_status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    uint64_t caps = std::strtoull(line.c_str() + 7, nullptr, 16);
    return (caps >> kCapNetAdminBit) & 1;
  }
  return false;
}

Status RealHostProbe::CanCreateNetns() {
  // A throwaway child, so the daemon's own namespace is never touched. Between
  // fork and _exit only async-signal-safe calls happen (the daemon is threaded).
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork to test network namespaces", errno);
  if (pid == 0) _exit(::unshare(CLONE_NEWNET) == 0 ? 0 : (errno & 0xff));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError("waitpid for netns probe", errno);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  std::string why = WIFEXITED(status) ? std::strerror(WEXITSTATUS(status)) : "probe child crashed";
  return FailedPrecondition("cannot create network namespaces (unshare(CLONE_NEWNET): " + why +
                            "); run the daemon as root or with CAP_SYS_ADMIN");
}

std::optional<std::string> RealHostProbe::ToolVersion(const std::string& tool) {
  const std::string base = fs::path(tool).filename().string();
  // e2fsprogs tools have no --version; -V prints the version and exits.
  const bool e2fs = base.rfind("mkfs.", 0) == 0 || base.rfind("mke2fs", 0) == 0;
  RunSpec spec;
  spec.argv = {tool, e2fs ? "-V" : "--version"};
  spec.timeout = kVersionTimeout;
  spec.capture_limit = 64 << 10;
  Result<RunResult> r = runner_->Run(spec);
  if (!r.ok()) {
    if (r.error().code() == Code::kNotFound) return std::nullopt;
    return "unknown (" + r.error().message() + ")";
  }
  std::string line = FirstLine(r->out);
  if (line.empty()) line = FirstLine(r->err);
  if (line.empty()) return "unknown (no version output, exit " + std::to_string(r->exit_code) + ")";
  return line;
}

Result<uint64_t> RealHostProbe::FreeBytes(const fs::path& p) {
  std::error_code ec;
  fs::path at = fs::absolute(p, ec);
  if (ec) return Internal("resolve " + p.string() + ": " + ec.message());
  while (!PathExists(at) && at.has_parent_path() && at.parent_path() != at) at = at.parent_path();
  struct statvfs vfs;
  if (::statvfs(at.c_str(), &vfs) != 0) return ErrnoError("statvfs " + at.string(), errno);
  return static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
}

Result<Accelerator> ChooseAccelerator(std::string_view setting, const KvmFacts& kvm) {
  const bool usable = kvm.state == KvmState::kUsable;
  if (setting == "auto") return usable ? Accelerator::kKvm : Accelerator::kTcg;
  if (setting == "tcg") return Accelerator::kTcg;
  if (setting == "kvm") {
    if (usable) return Accelerator::kKvm;
    return FailedPrecondition("accelerator \"kvm\" was requested but KVM is " +
                              std::string(KvmStateName(kvm.state)) + " (" + kvm.detail +
                              "); set accelerator to \"auto\" or \"tcg\"");
  }
  return InvalidArgument("unknown accelerator \"" + std::string(setting) +
                         "\"; use \"auto\", \"kvm\" or \"tcg\"");
}

std::string_view AcceleratorName(Accelerator a) { return a == Accelerator::kKvm ? "kvm" : "tcg"; }

}  // namespace warren

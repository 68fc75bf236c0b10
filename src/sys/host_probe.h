#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "sys/runner.h"

namespace warren {

enum class KvmState {
  kAbsent,    // no /dev/kvm
  kNoAccess,  // /dev/kvm exists but cannot be opened read-write
  kPvm,       // kvm_pvm module: stock guest kernels hang under it, so treat KVM as unusable
  kUsable,    // API version 12 and KVM_CREATE_VM works
  kBroken,    // opens, but the API version is wrong or KVM_CREATE_VM fails
};
std::string_view KvmStateName(KvmState state);  // "absent", "no-access", "pvm", "usable", "broken"

struct KvmFacts {
  KvmState state = KvmState::kAbsent;
  std::string detail;  // e.g. "module kvm_pvm loaded"
};

// The host facts `warren doctor` reports and the accelerator choice depends on,
// behind a seam so both are testable. Implementations are thread-safe.
class HostProbe {
 public:
  virtual ~HostProbe() = default;
  virtual KvmFacts ProbeKvm() = 0;
  // /dev/net/tun opens read-write.
  virtual bool TunAvailable() = 0;
  // CAP_NET_ADMIN is in the effective set.
  virtual bool HasCapNetAdmin() = 0;
  // OK when a child process can unshare(CLONE_NEWNET); otherwise FailedPrecondition saying why.
  virtual Status CanCreateNetns() = 0;
  // First line of `tool --version` (`mkfs.ext4 -V`); nullopt when the tool is not installed.
  virtual std::optional<std::string> ToolVersion(const std::string& tool) = 0;
  // Bytes available to unprivileged users on the filesystem holding `p` (or its nearest
  // existing parent).
  virtual Result<uint64_t> FreeBytes(const std::filesystem::path& p) = 0;
};

// Probes the real machine. The paths are injectable so tests can point the
// KVM/TUN/capability checks at files they control.
class RealHostProbe final : public HostProbe {
 public:
  struct Paths {
    std::filesystem::path dev_kvm = "/dev/kvm";
    std::filesystem::path sys_module = "/sys/module";
    std::filesystem::path dev_tun = "/dev/net/tun";
    std::filesystem::path proc_status = "/proc/self/status";
  };
  // `runner` must outlive this probe.
  explicit RealHostProbe(Runner* runner) : RealHostProbe(runner, Paths{}) {}
  RealHostProbe(Runner* runner, Paths paths) : runner_(runner), paths_(std::move(paths)) {}

  KvmFacts ProbeKvm() override;
  bool TunAvailable() override;
  bool HasCapNetAdmin() override;
  Status CanCreateNetns() override;
  std::optional<std::string> ToolVersion(const std::string& tool) override;
  Result<uint64_t> FreeBytes(const std::filesystem::path& p) override;

 private:
  // Immutable after construction.
  Runner* const runner_;
  const Paths paths_;
};

enum class Accelerator { kKvm, kTcg };
// "auto" → kvm only when `kvm.state` is kUsable, else tcg; "kvm" → FailedPrecondition unless
// usable; "tcg" → tcg; anything else → InvalidArgument.
Result<Accelerator> ChooseAccelerator(std::string_view setting, const KvmFacts& kvm);
std::string_view AcceleratorName(Accelerator a);  // "kvm" / "tcg"

}  // namespace warren

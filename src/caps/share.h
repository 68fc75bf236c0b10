#pragma once

// share: host folders shown in the guest over virtio-9p (`vm create --share
// HOST_DIR:GUEST_DIR[:ro]`, repeatable). QEMU serves them itself (no helper
// daemon); `:ro` is enforced by QEMU (`readonly=on` on the fsdev), not only by
// the guest's mount options. docs/CAPABILITIES.md says why 9p and which
// security model.
//
// Request: ["/abs/host:/guest/dir[:ro]", ...] (the CLI makes HOST_DIR
// absolute). HOST_DIR must exist and be a directory (checked at create and
// again at every boot). Settings: [{tag, host, guest, ro}], tag "warren0".. in
// request order. The guest mounts them at boot: warren's init (mount-shares),
// cloud-init (bootcmd).
//
// Thread-safety: stateless.

#include "vm/capability.h"

namespace warren {

class ShareCapability final : public Capability {
 public:
  static constexpr size_t kMaxShares = 16;

  std::string_view Name() const override { return "share"; }
  Result<nlohmann::json> Validate(const nlohmann::json& request,
                                  const CreateRequest& create) override;
  Status ContributeSeed(const CapVm& vm, const nlohmann::json& settings,
                        SeedSpec& seed) override;
  // FailedPrecondition when a host folder is gone (the boot fails, saying which).
  Status ContributeQemu(const CapVm& vm, const nlohmann::json& settings, VmSpec& spec) override;
};

}  // namespace warren

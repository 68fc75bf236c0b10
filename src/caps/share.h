#pragma once

// share: host folders shown in the guest over virtiofs (`vm create --share
// HOST_DIR:GUEST_DIR[:ro]`, repeatable). Each share is served by its own
// virtiofsd (caps/virtiofsd.h), started before QEMU at every boot and owned by
// the VM: stopped with it (OnStop: stop, restart, QEMU exit, a failed start)
// and with its delete. `:ro` is enforced on the host (virtiofsd sees the
// folder through a read-only bind mount), not only by the guest's mount
// options. docs/CAPABILITIES.md says why virtiofs and what it costs.
//
// Request: ["/abs/host:/guest/dir[:ro]", ...] (the CLI makes HOST_DIR
// absolute). HOST_DIR must exist and be a directory (checked at create and
// again at every boot). Settings: [{tag, host, guest, ro}], tag "warren0".. in
// request order. The guest mounts them at boot: warren's init (mount-shares),
// cloud-init (bootcmd). Per share, the VM's directory holds virtiofsd's
// socket (vfs-TAG.sock), pid file and log (virtiofsd-TAG.{pid,log}).
//
// Thread-safety: no state of its own; the VM's lock serializes the hooks of
// one VM, and ShareServers is thread-safe.

#include <memory>

#include "caps/virtiofsd.h"
#include "vm/capability.h"

namespace warren {

class ShareCapability final : public Capability {
 public:
  static constexpr size_t kMaxShares = 16;

  explicit ShareCapability(std::unique_ptr<ShareServers> servers)
      : servers_(std::move(servers)) {}

  std::string_view Name() const override { return "share"; }
  bool NeedsFirstBoot() const override { return true; }
  Result<nlohmann::json> Validate(const nlohmann::json& request,
                                  const CreateRequest& create) override;
  Status ContributeSeed(const CapVm& vm, const nlohmann::json& settings,
                        SeedSpec& seed) override;
  // Starts every share's virtiofsd (after stopping leftovers) and adds its
  // socket to the spec. FailedPrecondition naming the share when its host
  // folder is gone or its virtiofsd does not start (those already started are
  // stopped again).
  Status ContributeQemu(const CapVm& vm, const nlohmann::json& settings, VmSpec& spec) override;
  void OnStop(const CapVm& vm, const nlohmann::json& settings) override;
  void OnDelete(const CapVm& vm, const nlohmann::json& settings) override;

  // Share `s` (one entry of the settings) of the VM in `vm_dir`, as its
  // virtiofsd runs. Pure.
  static VirtiofsdSpec ServerSpec(const std::filesystem::path& vm_dir, const nlohmann::json& s,
                                  const std::string& socket_group);

 private:
  void StopAll(const CapVm& vm, const nlohmann::json& settings);

  const std::unique_ptr<ShareServers> servers_;
};

}  // namespace warren

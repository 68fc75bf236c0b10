#pragma once

#include <functional>
#include <string>

#include "net/egress.h"
#include "vm/capability.h"

namespace warren {

// What the egress capability needs of the daemon's network.
struct EgressOptions {
  std::string mode;     // network.mode: "nat", "isolated" or "host"
  std::string bridge;   // the guests' bridge in the VM namespace
  std::string gateway;  // the bridge's address (the daemon's guest DNS)
};

// Runs an nftables script in the VM namespace (HostNetwork::ApplyNftables).
using NftApply = std::function<Status(const std::string& script)>;

// `vm create --egress none|all|CIDR[,CIDR...]` and `vm egress NAME SPEC`: what
// a VM may reach outside the guest network, enforced by per-VM nftables
// tables in the VM namespace (net/egress.h has the rules).
//
// Modes: in `nat` every spec is valid (`all` is the default: no rule). In
// `isolated` guests have no way out, so only `none` is valid, and it needs no
// rule. In `host` the guests sit in the daemon's own namespace, which warren
// does not filter: refused.
//
// Life: the rules follow the TAP, which changes every boot. They are installed
// before QEMU starts (ContributeQemu: the guest never runs unfiltered, not
// even while it boots) and again at OnReady/OnAdopt (replacing whole, so never
// twice), removed at OnStop/OnDelete. Settings: {"spec": canonical spec}.
//
// Thread-safety: no state of its own beyond construction; the hooks run under
// the VM's lock and each nft batch is atomic.
class EgressCapability final : public Capability {
 public:
  EgressCapability(EgressOptions options, NftApply apply)
      : options_(std::move(options)), apply_(std::move(apply)) {}

  std::string_view Name() const override { return "egress"; }
  Result<nlohmann::json> Validate(const nlohmann::json& request,
                                  const CreateRequest& create) override;
  Status ContributeQemu(const CapVm& vm, const nlohmann::json& settings, VmSpec& spec) override;
  Status OnReady(const CapVm& vm, const nlohmann::json& settings) override;
  void OnStop(const CapVm& vm, const nlohmann::json& settings) override;
  void OnDelete(const CapVm& vm, const nlohmann::json& settings) override;
  // `change` is a spec string as at create; `settings` null means `all`.
  Result<nlohmann::json> Change(const CapVm& vm, const nlohmann::json& settings,
                                const nlohmann::json& change, bool running) override;
  // The canonical spec: "none", "all", "10.0.0.0/8,192.0.2.0/24".
  nlohmann::json Describe(const nlohmann::json& settings) const override;

 private:
  // The spec parsed and checked against the daemon's network mode.
  Result<EgressPolicy> Check(const nlohmann::json& request) const;
  // Makes the VM namespace's rules match `policy` for the VM's current TAP.
  Status Apply(const CapVm& vm, const EgressPolicy& policy);
  void Remove(const CapVm& vm);

  const EgressOptions options_;
  const NftApply apply_;
};

}  // namespace warren

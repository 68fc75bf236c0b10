#pragma once

// The seed's `vmCaps`: per-VM capability hooks (publish, share, ssh-key,
// user-data, egress). A capability is one class implementing the interface
// below plus one row in the daemon's registry table; the VM manager calls the
// hooks at fixed points of a VM's life and never knows their names.
//
// Contract (docs/CAPABILITIES.md):
// - Settings: what a create asked of a capability is the JSON value under its
//   name in vm.create's `caps` object (`caps.publish = ["8080:80"]`). Validate
//   turns it into the settings stored with the VM (one row per VM and
//   capability); every later hook gets those settings back, so each hook can
//   act from the stored record alone (after a crash, a restart, a rollback).
// - Locks: every hook except Validate runs under the VM's own lock (the top of
//   the seed's order). A hook never takes createVMMu or imageOpsMu, and does no
//   guest I/O while holding a leaf lock of its own.
// - Undo: OnDelete removes everything the capability made for the VM (files,
//   listeners, rules), idempotently, also for a create rolled back at any step.

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "base/status.h"
#include "image/seed.h"
#include "store/store.h"
#include "vm/qemu/argv.h"

namespace warren {

struct CreateRequest;

// One VM as a hook sees it.
struct CapVm {
  const VmRecord &record;    // id, name, ip, mac, tap (once booted), state
  std::filesystem::path dir; // the VM's own directory (vms_dir/NAME)
};

class Capability {
public:
  virtual ~Capability() = default;

  // The registry key, the member of vm.create's `caps` and of `vm inspect`'s
  // `caps`: "publish", "share", "ssh_key", "user_data", "egress".
  virtual std::string_view Name() const = 0;

  // Checks this capability's part of a create request (`request` is the JSON
  // under Name(); absent members are not passed) against the daemon's
  // configuration, and returns the settings to store. InvalidArgument or
  // FailedPrecondition naming the problem and the fix. No side effects: it runs
  // before the name is reserved.
  virtual Result<nlohmann::json> Validate(const nlohmann::json &request,
                                          const CreateRequest &create) = 0;

  // True when it acts through the guest's first boot (the seed, a device on
  // QEMU's command line): a clone resumes its snapshot's running guest instead,
  // so `vm create --from` refuses it.
  virtual bool NeedsFirstBoot() const { return false; }
  // Create, after the disk: entries for the VM's seed (SeedSpec's capability
  // fields). The seed is written once, at create.
  virtual Status ContributeSeed(const CapVm &, const nlohmann::json &settings,
                                SeedSpec &seed) {
    (void)settings, (void)seed;
    return Status::Ok();
  }
  // Every boot: additions to the QEMU command line (VmSpec's capability
  // fields).
  virtual Status ContributeQemu(const CapVm &, const nlohmann::json &settings,
                                VmSpec &spec) {
    (void)settings, (void)spec;
    return Status::Ok();
  }
  // Every boot, once the guest is ready (SSH answers): start what serves the
  // VM from the host (listeners, rules). A failure fails the create/start.
  virtual Status OnReady(const CapVm &, const nlohmann::json &settings) {
    (void)settings;
    return Status::Ok();
  }
  // The VM stopped (stop, restart, or its QEMU exited): release what OnReady
  // started; the settings stay. Idempotent.
  virtual void OnStop(const CapVm &, const nlohmann::json &settings) {
    (void)settings;
  }
  // The VM is deleted, or its create rolled back at any step: remove
  // everything this capability made for it. Idempotent; works from the stored
  // settings alone.
  virtual void OnDelete(const CapVm &, const nlohmann::json &settings) {
    (void)settings;
  }
  // Daemon start, for a VM whose QEMU was adopted still running: what OnReady
  // would have started (the previous daemon's listeners died with it).
  virtual Status OnAdopt(const CapVm &vm, const nlohmann::json &settings) {
    return OnReady(vm, settings);
  }
  // A change on an existing VM (`vm publish`, `vm unpublish`, `vm egress`):
  // returns the new settings, applied at once when `running`. Unimplemented by
  // default (the capability is fixed at create).
  virtual Result<nlohmann::json> Change(const CapVm &,
                                        const nlohmann::json &settings,
                                        const nlohmann::json &change,
                                        bool running) {
    (void)settings, (void)change, (void)running;
    return FailedPrecondition("capability \"" + std::string(Name()) +
                         "\" cannot be changed after create");
  }
  // What `vm inspect` shows for these settings (default: the settings).
  virtual nlohmann::json Describe(const nlohmann::json &settings) const {
    return settings;
  }
  // As Describe, for a capability whose report also depends on what happened
  // in the VM (files it keeps in vm.dir, e.g. a script's exit status). What
  // the VM manager calls; the default is Describe(settings).
  virtual nlohmann::json DescribeVm(const CapVm &vm,
                                    const nlohmann::json &settings) const {
    (void)vm;
    return Describe(settings);
  }
};

// The daemon's `vmCaps`, filled at Open from one table of rows; immutable
// afterwards, so it needs no lock. Capabilities are called in registration
// order (and OnStop/OnDelete in reverse).
class CapabilityRegistry {
public:
  // CHECKs that the name is new: two rows of one name are a programming error.
  void Add(std::unique_ptr<Capability> cap) {
    CHECK(cap != nullptr && Find(cap->Name()) == nullptr);
    caps_.push_back(std::move(cap));
  }
  Capability *Find(std::string_view name) const {
    for (const auto &cap : caps_)
      if (cap->Name() == name)
        return cap.get();
    return nullptr;
  }
  const std::vector<std::unique_ptr<Capability>> &all() const { return caps_; }

private:
  std::vector<std::unique_ptr<Capability>> caps_;
};

} // namespace warren

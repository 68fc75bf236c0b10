#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "net/port_relay.h"
#include "net/publish_spec.h"
#include "vm/capability.h"

namespace warren {

// The "publish" capability: guest ports reachable from the host through the
// daemon's PortRelay (`vm create --publish`, `vm publish`, `vm unpublish`,
// `vm ports`).
//
// Request: a JSON array of "[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]" strings.
// Stored settings: the same array in canonical form ("127.0.0.1:8080:80/tcp").
// Change: {"publish": SPEC} or {"unpublish": SPEC}.
//
// A host port is refused at once (Validate and Change) when another VM's
// stored settings hold it (named, running or not: its port must come back on
// its next start) or when anything else on the host has it bound.
//
// Thread-safety: every hook but Validate runs under the VM's lock (one caller
// per VM at a time); the table of live listeners is guarded by a leaf lock that
// is never held while calling the relay.
class PublishCapability final : public Capability {
 public:
  // Every VM's stored publish settings, by VM name (the store answers; the
  // VM being created is not in it yet).
  using StoredSettings =
      std::function<Result<std::vector<std::pair<std::string, nlohmann::json>>>()>;

  // `relay` must outlive this.
  PublishCapability(PortRelay& relay, StoredSettings stored)
      : relay_(relay), stored_(std::move(stored)) {}

  std::string_view Name() const override { return "publish"; }
  Result<nlohmann::json> Validate(const nlohmann::json& request,
                                  const CreateRequest& create) override;
  Status OnReady(const CapVm& vm, const nlohmann::json& settings) override;
  void OnStop(const CapVm& vm, const nlohmann::json& settings) override;
  void OnDelete(const CapVm& vm, const nlohmann::json& settings) override;
  Result<nlohmann::json> Change(const CapVm& vm, const nlohmann::json& settings,
                                const nlohmann::json& change, bool running) override;
  // [{"spec": canonical, "host_ip", "host_port", "guest_port", "proto"}, ...]
  nlohmann::json Describe(const nlohmann::json& settings) const override;
  // Describe, each entry with "listening": whether the relay serves it now.
  nlohmann::json DescribeVm(const CapVm& vm, const nlohmann::json& settings) const override;

  // The specs relayed now for the VM with this id (for `vm ports` and tests).
  std::vector<PublishSpec> ListeningFor(const std::string& vm_id);

 private:
  // Parses stored or requested settings (an array of spec strings).
  static Result<std::vector<PublishSpec>> ParseList(const nlohmann::json& list);
  // FailedPrecondition when `spec` is held by another VM than `self` (named)
  // or bound by another program on the host.
  Status CheckFree(const PublishSpec& spec, const std::string& self);
  Status Listen(const CapVm& vm, const PublishSpec& spec);
  void StopAll(const std::string& vm_id);

  PortRelay& relay_;
  const StoredSettings stored_;
  mutable Mutex mu_{LockRank::kLeaf, "PublishCapability"};
  // VM id → its listeners in the relay.
  std::map<std::string, std::vector<std::pair<PublishSpec, PortRelay::Id>>> live_ GUARDED_BY(mu_);
};

}  // namespace warren

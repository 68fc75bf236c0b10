#pragma once

// user_data: what the guest runs once at its first boot (`vm create
// --user-data FILE`): a `#!` script (warren's init runs it; cloud-init too),
// or a `#cloud-config` document, merged under warren's own cloud-config
// (warren's keys and network win; docs/CAPABILITIES.md) and refused at create
// for an image whose facts do not say it has cloud-init.
//
// Settings: {kind: "script", script} or {kind: "cloud-config", config}.
// OnReady (first boot only) waits, up to `wait`, for the guest to finish it,
// then fetches the exit status and the output's tail over SSH into the VM's
// directory (user-data.result.json) and logs them; `vm inspect` shows them.
// Later boots leave it be (the guest does not run it again).
//
// Thread-safety: hooks run under the VM's lock; the object holds only
// immutable collaborators.

#include <chrono>
#include <functional>

#include "session/guest_ssh.h"
#include "vm/capability.h"

namespace warren {

// The image's manifest facts (image/builder.h): {"cloud_init": true, ...}.
using ImageFactsLookup = std::function<Result<nlohmann::json>(std::string_view image)>;

class UserDataCapability final : public Capability {
 public:
  static constexpr size_t kMaxBytes = 256 << 10;

  UserDataCapability(ImageFactsLookup facts, GuestDialer* dialer, std::string client_private_key,
                     std::chrono::milliseconds wait = std::chrono::minutes(5),
                     std::chrono::milliseconds poll = std::chrono::milliseconds(500));

  std::string_view Name() const override { return "user_data"; }
  bool NeedsFirstBoot() const override { return true; }
  Result<nlohmann::json> Validate(const nlohmann::json& request,
                                  const CreateRequest& create) override;
  Status ContributeSeed(const CapVm& vm, const nlohmann::json& settings,
                        SeedSpec& seed) override;
  Status OnReady(const CapVm& vm, const nlohmann::json& settings) override;
  // Adopted VMs ran it already (or it is still running: the next boot looks).
  Status OnAdopt(const CapVm&, const nlohmann::json&) override { return Status::Ok(); }
  nlohmann::json Describe(const nlohmann::json& settings) const override;
  // {kind, state: "pending" | "done", exit_status, output} from the result file.
  nlohmann::json DescribeVm(const CapVm& vm, const nlohmann::json& settings) const override;

 private:
  // One command's output and status in the guest.
  Result<GuestConnection::ExecResult> Run(GuestConnection& conn, const std::string& command);

  const ImageFactsLookup facts_;
  GuestDialer* const dialer_;
  const std::string client_private_key_;
  const std::chrono::milliseconds wait_, poll_;
};

}  // namespace warren

#pragma once

#include <map>
#include <optional>
#include <string>

#include "base/status.h"
#include "sys/host_probe.h"

namespace warren {

// HostProbe with settable answers. Defaults describe a healthy KVM host with
// every tool installed at a version "<tool> 1.0". Set the fields before
// sharing the fake; after that it is only read, so concurrent calls are safe.
class FakeHostProbe : public HostProbe {
 public:
  KvmFacts kvm{KvmState::kUsable, "module kvm_intel loaded, API 12"};
  bool tun = true;
  bool cap_net_admin = true;
  Status netns = Status::Ok();
  // Tools absent from the map report "<tool> 1.0"; map a tool to nullopt for "not installed".
  std::map<std::string, std::optional<std::string>> tool_versions;
  Result<uint64_t> free_bytes = uint64_t{100} << 30;

  KvmFacts ProbeKvm() override { return kvm; }
  bool TunAvailable() override { return tun; }
  bool HasCapNetAdmin() override { return cap_net_admin; }
  Status CanCreateNetns() override { return netns; }
  std::optional<std::string> ToolVersion(const std::string& tool) override {
    auto it = tool_versions.find(tool);
    if (it != tool_versions.end()) return it->second;
    return tool + " 1.0";
  }
  Result<uint64_t> FreeBytes(const std::filesystem::path&) override { return free_bytes; }
};

}  // namespace warren

// The capability table. Order matters only for hook order: capabilities are
// called in this order and undone in reverse.
#include "daemon/capabilities.h"

#include <functional>
#include <vector>

#include "store/store.h"
#include "vm/caps/publish.h"

namespace warren {
namespace {

using CapabilityRow = std::function<std::unique_ptr<Capability>(const CapabilityContext &)>;

// publish's port holders: every VM's stored "publish" settings, by VM name.
PublishCapability::StoredSettings StoredPublishSettings(Store *store) {
  return [store]() -> Result<std::vector<std::pair<std::string, nlohmann::json>>> {
    ASSIGN_OR_RETURN(std::vector<VmRecord> vms, store->ListVms());
    std::vector<std::pair<std::string, nlohmann::json>> out;
    for (const VmRecord &vm : vms) {
      ASSIGN_OR_RETURN(std::vector<VmCapRecord> caps, store->ListVmCaps(vm.id));
      for (const VmCapRecord &cap : caps) {
        if (cap.cap != "publish") continue;
        out.emplace_back(vm.name, nlohmann::json::parse(cap.settings_json, nullptr, false));
      }
    }
    return out;
  };
}

std::vector<CapabilityRow> Rows() {
  return {
      [](const CapabilityContext &c) {
        return std::make_unique<PublishCapability>(*c.port_relay, StoredPublishSettings(c.store));
      },
  };
}

}  // namespace

void RegisterCapabilities(const CapabilityContext &context, CapabilityRegistry &registry) {
  for (const CapabilityRow &row : Rows()) registry.Add(row(context));
}

}  // namespace warren

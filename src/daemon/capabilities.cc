// The capability table. Order matters only for hook order: capabilities are
// called in this order and undone in reverse.
#include "daemon/capabilities.h"

#include <functional>
#include <vector>

#include "caps/share.h"
#include "caps/ssh_key.h"
#include "caps/user_data.h"
#include "image/registry.h"
#include "caps/egress.h"
#include "daemon/deps.h"
#include "store/store.h"
#include "vm/caps/publish.h"

namespace warren {
namespace {

using CapabilityRow = std::function<std::unique_ptr<Capability>(const CapabilityContext &)>;

std::unique_ptr<Capability> Egress(const CapabilityContext &c) {
  const NetworkConfig &net = c.config->network;
  return std::make_unique<EgressCapability>(
      EgressOptions{net.mode, net.bridge, c.gateway},
      [network = c.network, ns = c.vm_ns](const std::string &script) {
        return network->ApplyNftables(*ns, script);
      });
}

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
      Egress,
      [](const CapabilityContext&) { return std::make_unique<SshKeyCapability>(); },
      [](const CapabilityContext&) {
        return std::make_unique<ShareCapability>(std::make_unique<VirtiofsdServers>());
      },
      [](const CapabilityContext& c) {
        ImageRegistry* images = c.images;
        return std::make_unique<UserDataCapability>(
            [images](std::string_view image) -> Result<nlohmann::json> {
              ASSIGN_OR_RETURN(ImageInfo info, images->Get(image));
              return info.manifest.value("facts", nlohmann::json::object());
            },
            c.dialer, c.client_private_key);
      },
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

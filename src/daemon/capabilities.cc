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

std::vector<CapabilityRow> Rows() {
  return {
      Egress,
      [](const CapabilityContext&) { return std::make_unique<SshKeyCapability>(); },
      [](const CapabilityContext&) { return std::make_unique<ShareCapability>(); },
      [](const CapabilityContext& c) {
        ImageRegistry* images = c.images;
        return std::make_unique<UserDataCapability>(
            [images](std::string_view image) -> Result<nlohmann::json> {
              ASSIGN_OR_RETURN(ImageInfo info, images->Get(image));
              return info.manifest.value("facts", nlohmann::json::object());
            },
            c.dialer, c.client_private_key);
      },
  };
}

}  // namespace

void RegisterCapabilities(const CapabilityContext &context, CapabilityRegistry &registry) {
  for (const CapabilityRow &row : Rows()) registry.Add(row(context));
}

}  // namespace warren

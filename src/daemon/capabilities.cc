// The capability table. Order matters only for hook order: capabilities are
// called in this order and undone in reverse.
#include "daemon/capabilities.h"

#include <functional>
#include <vector>

#include "caps/share.h"
#include "caps/ssh_key.h"
#include "caps/user_data.h"
#include "image/registry.h"

namespace warren {
namespace {

using CapabilityRow = std::function<std::unique_ptr<Capability>(const CapabilityContext &)>;

std::vector<CapabilityRow> Rows() {
  return {
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

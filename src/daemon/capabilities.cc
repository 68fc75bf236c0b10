// The capability table. Order matters only for hook order: capabilities are
// called in this order and undone in reverse.
#include "daemon/capabilities.h"

#include <functional>
#include <vector>

namespace warren {
namespace {

using CapabilityRow = std::function<std::unique_ptr<Capability>(const CapabilityContext &)>;

std::vector<CapabilityRow> Rows() {
  return {};
}

}  // namespace

void RegisterCapabilities(const CapabilityContext &context, CapabilityRegistry &registry) {
  for (const CapabilityRow &row : Rows()) registry.Add(row(context));
}

}  // namespace warren

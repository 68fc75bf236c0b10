#pragma once

// The daemon's `vmCaps` table: one row per VM capability (capabilities.cc).
// Adding a capability = its class (src/caps/) + one row there.

#include <memory>

#include "config/config.h"
#include "vm/capability.h"

namespace warren {

class GuestDialer;
class HostNetwork;
class ImageRegistry;
class NetnsHandle;
class PortRelay;
class Store;

// What a capability may be built with: the daemon's own collaborators, all
// outliving the registry (the Daemon declares it after them). Rows take what
// they need by constructor injection.
struct CapabilityContext {
  const Config *config = nullptr;
  ImageRegistry *images = nullptr;
  GuestDialer *dialer = nullptr;   // SSH to guests (inside the VM namespace)
  std::string client_private_key;  // the daemon's key, authorized in every guest
  HostNetwork *network = nullptr;  // nftables in the VM namespace (egress)
  const NetnsHandle *vm_ns = nullptr;
  std::string gateway;  // the bridge's address (the guests' DNS)
  PortRelay *port_relay = nullptr;  // published ports (sockets in the VM namespace)
  Store *store = nullptr;           // every VM's stored settings (publish: port holders)
};

// Fills `registry` from the table, in its order (the hooks' call order).
void RegisterCapabilities(const CapabilityContext &context, CapabilityRegistry &registry);

}  // namespace warren

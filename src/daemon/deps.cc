// DaemonDeps::Real(): the production seams, and RealHostNetwork.
#include "daemon/deps.h"

#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "base/check.h"
#include "net/nftables.h"
#include "rpc/dispatcher.h"
#include "rpc/services.h"
#include "session/libssh_dialer.h"
#include "sys/oom.h"
#include <spdlog/spdlog.h>

namespace warren {

Result<NetnsHandle> RealHostNetwork::OpenNetns(std::string_view name) {
  if (name.empty()) return NetnsHandle::Current();
  return NetnsHandle::OpenOrCreate(kDefaultNetnsDir, name);
}

Status RealHostNetwork::DeleteNetns(std::string_view name) {
  return NetnsHandle::Delete(kDefaultNetnsDir, name);
}

Status RealHostNetwork::EnsureBridge(const NetnsHandle& ns, const BridgeConfig& bridge) {
  return EnsureBridgeIn(ns, bridge);
}

Status RealHostNetwork::EnsureUplink(const NetnsHandle& ns, const NatUplinkConfig& uplink) {
  return EnsureNatUplink(ns, uplink);
}

Status RealHostNetwork::RemoveUplink(const NatUplinkConfig& uplink) {
  return RemoveNatUplink(uplink);
}

Status RealHostNetwork::ApplyNftables(const NetnsHandle& ns, const std::string& script) {
  return RunInNetns(ns.fd(), [&script] { return RunNft(script).status(); });
}

Result<std::unique_ptr<TapStock>> RealHostNetwork::CreateTapStock(const NetnsHandle& ns,
                                                                  TapPoolOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<TapPool> pool, TapPool::Create(ns, std::move(options)));
  return std::unique_ptr<TapStock>(std::move(pool));
}

SocketFactory RealHostNetwork::GuestSockets(const NetnsHandle& ns) {
  // host mode: the daemon's own namespace, no thread hop needed.
  return ns.name().empty() ? HostSocketFactory() : NetnsSocketFactory(ns);
}

Result<DnsListenSockets> RealHostNetwork::BindGuestDns(const NetnsHandle& ns,
                                                       const std::string& ip, uint16_t port) {
  return BindDnsSockets(ip, port, [&ns](int type) {
    return OpenSocketIn(ns, AF_INET, type | SOCK_NONBLOCK, 0);
  });
}

DaemonDeps DaemonDeps::Real() {
  DaemonDeps deps;
  deps.runner = std::make_unique<RealRunner>();
  deps.clock = std::make_unique<SystemClock>();
  deps.host_probe = std::make_unique<RealHostProbe>(deps.runner.get());
  deps.image_builder =
      std::make_unique<DebianImageBuilder>(*deps.runner, DebianImageBuilder::Options{});
  deps.hypervisor = std::make_unique<QemuHypervisor>();
  deps.network = std::make_unique<RealHostNetwork>();
  deps.guest_dialer = [](SocketFactory sockets) -> std::unique_ptr<GuestDialer> {
    return std::make_unique<LibsshDialer>(std::move(sockets));
  };
  deps.wait_for_guest_ready = &DaemonDeps::WaitForSshReady;
  deps.request_handler = &DaemonDeps::TableDispatcher;
  deps.process_usage = &metrics::ReadProcessUsage;
  deps.host_memory = [] { return HostMemTotalBytes(); };
  deps.oom_killed = &DaemonDeps::OomKilledPerKernelLog;
  deps.ksm_dir = "/sys/kernel/mm/ksm";
  deps.connect_agent = &ConnectGuestAgent;
  return deps;
}

bool DaemonDeps::OomKilledPerKernelLog(pid_t pid) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Result<bool> found = KernelLogNamesOomKill("/dev/kmsg", pid);
    if (!found.ok()) {
      spdlog::warn("QEMU pid {} was killed; cannot tell whether by the OOM killer: {}", pid,
                   found.error().ToString());
      return false;
    }
    if (*found) return true;
  }
  return false;
}

Status DaemonDeps::WaitForSshReady(GuestDialer& dialer, const GuestEndpoint& endpoint,
                                   std::chrono::steady_clock::time_point deadline,
                                   std::stop_token stop) {
  return dialer.WaitForSsh(endpoint, deadline, std::move(stop)).status();
}

std::unique_ptr<rpc::Dispatcher> DaemonDeps::TableDispatcher(const rpc::Services& services) {
  return std::make_unique<rpc::Dispatcher>(rpc::AllMethods(services));
}

void DaemonDeps::CheckComplete() const {
  const std::pair<const char*, bool> seams[] = {
      {"runner", runner != nullptr},
      {"clock", clock != nullptr},
      {"host_probe", host_probe != nullptr},
      {"image_builder", image_builder != nullptr},
      {"hypervisor", hypervisor != nullptr},
      {"network", network != nullptr},
      {"guest_dialer", static_cast<bool>(guest_dialer)},
      {"wait_for_guest_ready", static_cast<bool>(wait_for_guest_ready)},
      {"request_handler", static_cast<bool>(request_handler)},
      {"process_usage", static_cast<bool>(process_usage)},
      {"host_memory", static_cast<bool>(host_memory)},
      {"oom_killed", static_cast<bool>(oom_killed)},
      {"connect_agent", static_cast<bool>(connect_agent)},
  };
  for (const auto& [name, set] : seams) {
    if (!set) std::fprintf(stderr, "DaemonDeps::%s is not set\n", name);
    CHECK(set);
  }
}

}  // namespace warren

#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"
#include "dns/listen.h"
#include "image/builder.h"
#include "metrics/process_usage.h"
#include "net/bridge.h"
#include "net/nat_uplink.h"
#include "net/netns.h"
#include "net/tap_pool.h"
#include "session/guest_socket.h"
#include "session/guest_ssh.h"
#include "sys/host_probe.h"
#include "sys/runner.h"
#include "vm/guest_agent.h"
#include "vm/hypervisor.h"

namespace warren {

namespace rpc {
class Dispatcher;
struct Services;
}  // namespace rpc

// The host side of the VM network as the daemon drives it: the factories of
// the network namespace, the bridge (and nat uplink), the TAP stock and the
// sockets opened inside the namespace. RealHostNetwork (below) needs root;
// tests/fakes/fake_host_network.h needs nothing. Implementations are
// thread-safe; handles they return must not outlive them.
class HostNetwork {
 public:
  virtual ~HostNetwork() = default;

  // The VM namespace: `name` opened or created (isolated and nat modes), or
  // the daemon's own namespace when `name` is empty (host mode).
  virtual Result<NetnsHandle> OpenNetns(std::string_view name) = 0;
  // Removes the namespace `name` made by OpenNetns. NotFound if absent.
  virtual Status DeleteNetns(std::string_view name) = 0;

  // The bridge carrying the gateway, made or repaired (idempotent).
  virtual Status EnsureBridge(const NetnsHandle& ns, const BridgeConfig& bridge) = 0;
  // nat mode's uplink, made or repaired / removed (both idempotent).
  virtual Status EnsureUplink(const NetnsHandle& ns, const NatUplinkConfig& uplink) = 0;
  virtual Status RemoveUplink(const NatUplinkConfig& uplink) = 0;
  // Runs an nftables script (one atomic batch) inside `ns`: the egress
  // capability's per-VM rules.
  virtual Status ApplyNftables(const NetnsHandle& ns, const std::string& script) = 0;

  // The TAP stock on the bridge (not started: the daemon reaps, then Starts).
  virtual Result<std::unique_ptr<TapStock>> CreateTapStock(const NetnsHandle& ns,
                                                           TapPoolOptions options) = 0;

  // TCP connections to guests (the SSH dialer's sockets), made inside `ns`,
  // which must outlive the factory.
  virtual SocketFactory GuestSockets(const NetnsHandle& ns) = 0;
  // The guest-facing DNS listener: UDP + TCP bound to ip:port inside `ns`.
  virtual Result<DnsListenSockets> BindGuestDns(const NetnsHandle& ns, const std::string& ip,
                                                uint16_t port) = 0;
};

// The real one: named namespaces under /run/netns, netlink, tun, libnftables.
class RealHostNetwork final : public HostNetwork {
 public:
  Result<NetnsHandle> OpenNetns(std::string_view name) override;
  Status DeleteNetns(std::string_view name) override;
  Status EnsureBridge(const NetnsHandle& ns, const BridgeConfig& bridge) override;
  Status EnsureUplink(const NetnsHandle& ns, const NatUplinkConfig& uplink) override;
  Status RemoveUplink(const NatUplinkConfig& uplink) override;
  Status ApplyNftables(const NetnsHandle& ns, const std::string& script) override;
  Result<std::unique_ptr<TapStock>> CreateTapStock(const NetnsHandle& ns,
                                                   TapPoolOptions options) override;
  SocketFactory GuestSockets(const NetnsHandle& ns) override;
  Result<DnsListenSockets> BindGuestDns(const NetnsHandle& ns, const std::string& ip,
                                        uint16_t port) override;
};

// The seed's guestDial / guestWaitForSSH: makes the daemon's GuestDialer over
// sockets from `sockets` (HostNetwork::GuestSockets). Real: LibsshDialer.
using GuestDialerFactory = std::function<std::unique_ptr<GuestDialer>(SocketFactory sockets)>;

// The seed's waitForGuestSessionReady: what a create or start waits for before
// the VM is "running" — the guest accepts an authenticated session with the
// pinned host key. Real: `dialer.WaitForSsh(...)`. Returns OK when ready,
// DeadlineExceeded at `deadline`, Cancelled when `stop` fires, or the dialer's
// non-retryable errors.
using GuestReadyWait =
    std::function<Status(GuestDialer& dialer, const GuestEndpoint& endpoint,
                         std::chrono::steady_clock::time_point deadline, std::stop_token stop)>;

// The seed's requestHandler: the dispatcher every transport calls (the unix
// socket server today, the web UI next), built from the subsystems handlers
// may reach. Real: rpc::Dispatcher over rpc::AllMethods(services).
using RequestHandlerFactory =
    std::function<std::unique_ptr<rpc::Dispatcher>(const rpc::Services& services)>;

// The seams the daemon runs on, injected at construction and owned by the
// Daemon. Every one must be set (Daemon::Open CHECKs it): there is no
// "empty means default". DaemonDeps::Real() builds the production set; daemon
// tests build fakes and run as an ordinary user.
struct DaemonDeps {
  std::unique_ptr<Runner> runner;
  std::unique_ptr<Clock> clock;
  std::unique_ptr<HostProbe> host_probe;
  // The seed's `imageBuild`. Real: DebianImageBuilder over `runner`.
  std::unique_ptr<ImageBuilder> image_builder;
  // QEMU. Real: QemuHypervisor.
  std::unique_ptr<Hypervisor> hypervisor;
  std::unique_ptr<HostNetwork> network;
  GuestDialerFactory guest_dialer;
  GuestReadyWait wait_for_guest_ready;
  RequestHandlerFactory request_handler;
  // CPU and memory of a VM's QEMU for /metrics. Real: metrics::ReadProcessUsage (/proc).
  metrics::ProcessUsageReader process_usage;
  // The host's memory (MemTotal, bytes): what `[vm] memory_budget = "auto"` is
  // made of. Real: /proc/meminfo.
  std::function<Result<uint64_t>()> host_memory;
  // Whether the kernel's OOM killer killed `pid` (it just died of a SIGKILL
  // warren did not send). Real: the kernel log, /dev/kmsg.
  std::function<bool(pid_t pid)> oom_killed;
  // The guest agent of a running VM (a restore steps the guest's clock
  // through it). Real: ConnectGuestAgent on QEMU's socket.
  ConnectAgent connect_agent;
  // The kernel's same-page merging controls: `[vm] ksm` turns it on at Open,
  // doctor reports it. Real: /sys/kernel/mm/ksm; "" (fakes) = not available.
  std::filesystem::path ksm_dir;

  static DaemonDeps Real();
  // The real oom_killed: /dev/kmsg, asked a few times over ~0.3 s (a kill the
  // OOM killer made for another process's allocation may be logged just after
  // its victim is reaped); false when the log cannot be read.
  static bool OomKilledPerKernelLog(pid_t pid);
  // The production wait and request handler, also what fakes use when a test
  // fakes only the dialer below them.
  static Status WaitForSshReady(GuestDialer& dialer, const GuestEndpoint& endpoint,
                                std::chrono::steady_clock::time_point deadline,
                                std::stop_token stop);
  static std::unique_ptr<rpc::Dispatcher> TableDispatcher(const rpc::Services& services);
  // CHECK-fails naming the first seam left unset.
  void CheckComplete() const;
};

}  // namespace warren

#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <stop_token>
#include <thread>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"
#include "config/config.h"
#include "daemon/deps.h"
#include "vm/capability.h"
#include "dns/records.h"
#include "image/seed.h"
#include "net/ip_alloc.h"
#include "net/nat_uplink.h"
#include "net/port_relay.h"
#include "sys/layout.h"
#include "sys/pidfile.h"

namespace warren {

class DnsServer;
class GuestDialer;
class ImageRegistry;
class SessionRegistry;
class NetnsHandle;
class EventBus;
class OpRegistry;
class Store;
class TapSource;
class VmManager;
namespace rpc {
class Dispatcher;
class Server;
}  // namespace rpc
namespace metrics {
struct Snapshot;
}  // namespace metrics
namespace web {
class WebAuth;
class WebServer;
}  // namespace web

// The composition root (the seed's `Daemon`). It owns the infrastructure
// (layout, config, pid file, store, runner, logger sinks) and the subsystems,
// and wires them into the RPC dispatch table. Its whole public surface is
// Open, Serve and Close (plus the free function Doctor in doctor.h); every
// other operation is an RPC method reached through the dispatcher.
//
// Lock order (docs/ARCHITECTURE.md), enforced by LockRank at runtime:
//   per-VM lock → {createVMMu, imageOpsMu} → subsystem leaf locks.
//
// Thread-safety: Open and Close are called from one thread; Serve blocks on
// that thread (or another) until Close is called from a signal thread.
class Daemon {
 public:
  // Takes the pid lock, loads the config (refusing a bad one), opens and
  // migrates the store, recovers what a crash left (interrupted ops), and
  // creates the listening socket. Nothing is served until Serve.
  static Result<std::unique_ptr<Daemon>> Open(const Layout& layout, DaemonDeps deps);

  // Accepts and serves RPC clients until Close. Returns OK after a clean Close.
  Status Serve();

  // Stops accepting, refuses new mutating calls, cancels and rolls back in-flight
  // operations, disconnects clients, flushes the store and removes the socket
  // and pid file. Idempotent; safe to call from another thread while Serve runs.
  Status Close();

  ~Daemon();

 private:
  Daemon(Layout layout, Config config, DaemonDeps deps, PidFile pid);

  // Open's parts for VMs (daemon_vms.cc): the VM network namespace, bridge and
  // TAP pool; the SSH identity, guest dialer and VM manager (with recovery);
  // the DNS records and servers. Close's counterpart: CloseVms.
  Status OpenNetwork();
  Status OpenVms();
  Status OpenDns();
  void CloseVms();
  // The web UI (daemon_web.cc): the token file and the listener. A listener
  // that cannot start (port taken) is logged and kept in web_error_ for
  // web.info and daemon.health; the daemon still starts, as with host DNS.
  void OpenWeb();
  nlohmann::json WebInfo() const;
  Result<nlohmann::json> WebRotate();
  nlohmann::json WebCheck() const;
  // GET /metrics (daemon_metrics.cc): the Prometheus text, from the web
  // listener's connection threads while RPCs are served (the subsystems are
  // all open then). Takes no per-VM lock.
  std::string MetricsText();
  void CollectVmMetrics(metrics::Snapshot& snap);
  // `daemon.health` (daemon_health.cc): checks of the VM network, TAP pool,
  // DNS listeners and leftovers, as JSON rows {name, level, found, fix}.
  nlohmann::json HealthChecks();
  // The namespace name for isolated/nat modes (config, or derived from root).
  std::string NetnsName() const;

  // Destruction order matters: the server (whose worker threads call into the
  // subsystems) goes first, then the subsystems, then the store they write to,
  // then the pid file. Members are destroyed in reverse declaration order.
  const Layout layout_;
  const Config config_;
  DaemonDeps deps_;
  PidFile pid_;
  const int64_t started_ms_;
  Accelerator accelerator_ = Accelerator::kTcg;
  // First made, last freed: every subsystem below publishes to it (from its
  // own threads, joined before it goes) and RPC calls hold subscriptions.
  std::unique_ptr<EventBus> events_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<OpRegistry> ops_;
  // After ops_: its build bodies run on OpRegistry threads, joined by
  // OpRegistry::Shutdown before the registry goes.
  std::unique_ptr<ImageRegistry> images_;
  // The VM side, in dependency order (see OpenNetwork/OpenVms/OpenDns).
  std::unique_ptr<NetnsHandle> vm_ns_;
  bool owns_netns_ = false;  // isolated/nat: the daemon made it and may delete it
  std::optional<IpAllocator> ips_;  // the VM subnet, parsed once by OpenNetwork
  std::optional<NatUplinkConfig> uplink_;  // nat mode's veth + masquerade
  std::unique_ptr<TapStock> tap_pool_;
  // Published ports (the "publish" capability): its loop thread makes guest
  // sockets inside vm_ns_, which it must not outlive; the capability in vms_'s
  // registry uses it, so it goes after vms_.
  std::unique_ptr<PortRelay> port_relay_;
  std::unique_ptr<TapSource> tap_source_;
  SshKeyPair client_key_;
  std::unique_ptr<GuestDialer> dialer_;
  DnsRecords dns_records_;  // before vms_, whose hooks write it
  // Before vms_: its QEMU watcher threads call the guest_down hook, which holds
  // this registry's address (never reads this member). CloseVms destroys vms_
  // (joining every watcher) before this. Its resolver reads vms_, but only
  // from RPC handlers, which run between Open and Close's Server::Shutdown.
  std::unique_ptr<SessionRegistry> sessions_;
  // The seed's `vmCaps`: before vms_, which calls them; after what they use.
  CapabilityRegistry caps_;
  std::unique_ptr<VmManager> vms_;
  std::unique_ptr<DnsServer> vm_dns_, host_dns_;
  std::string host_dns_address_;  // where host_dns_ listens ("" = not listening)
  std::unique_ptr<rpc::Dispatcher> dispatcher_;
  std::unique_ptr<rpc::Server> server_;
  // The seed's webListener/webServer/webURL. After dispatcher_ (its bridged
  // connections call it) and auth (it checks cookies against it); Close shuts
  // it down (joining web_thread_) before the subsystems, like server_.
  std::unique_ptr<web::WebAuth> web_auth_;
  std::unique_ptr<web::WebServer> web_server_;
  std::string web_error_;  // why the listener is not serving ("" = it is, or disabled)
  Mutex web_thread_mu_{LockRank::kLeaf, "daemon web thread"};
  // Runs web_server_->Serve; started by Serve, joined by Close (other threads).
  std::thread web_thread_ GUARDED_BY(web_thread_mu_);
  // Set by Close: a Serve that starts after it (or races it) starts no thread
  // that nobody would join.
  bool web_thread_closed_ GUARDED_BY(web_thread_mu_) = false;
  std::atomic<bool> closed_{false};
};

}  // namespace warren

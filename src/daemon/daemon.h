#pragma once

#include <atomic>
#include <memory>
#include <stop_token>

#include "base/clock.h"
#include "base/status.h"
#include "config/config.h"
#include "image/builder.h"
#include "sys/host_probe.h"
#include "sys/layout.h"
#include "sys/pidfile.h"
#include "sys/runner.h"

namespace warren {

class ImageRegistry;
class OpRegistry;
class Store;
namespace rpc {
class Dispatcher;
class Server;
}  // namespace rpc

// The seams the daemon runs on, injected at construction. DaemonDeps::Real()
// builds the production set; tests build fakes. Owned by the Daemon.
struct DaemonDeps {
  std::unique_ptr<Runner> runner;
  std::unique_ptr<Clock> clock;
  std::unique_ptr<HostProbe> host_probe;
  // The seed's `imageBuild` seam; Real() uses DebianImageBuilder over `runner`.
  std::unique_ptr<ImageBuilder> image_builder;

  static DaemonDeps Real();
};

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

  // Destruction order matters: the server (whose worker threads call into the
  // subsystems) goes first, then the subsystems, then the store they write to,
  // then the pid file. Members are destroyed in reverse declaration order.
  const Layout layout_;
  const Config config_;
  DaemonDeps deps_;
  PidFile pid_;
  const int64_t started_ms_;
  Accelerator accelerator_ = Accelerator::kTcg;
  std::unique_ptr<Store> store_;
  std::unique_ptr<OpRegistry> ops_;
  // After ops_: its build bodies run on OpRegistry threads, joined by
  // OpRegistry::Shutdown before the registry goes.
  std::unique_ptr<ImageRegistry> images_;
  std::unique_ptr<rpc::Dispatcher> dispatcher_;
  std::unique_ptr<rpc::Server> server_;
  std::atomic<bool> closed_{false};
};

}  // namespace warren

#pragma once

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "rpc/dispatcher.h"
#include "web/auth.h"
#include "web/connection.h"
#include "web/router.h"

namespace warren::web {

struct WebServerOptions {
  std::string host = "127.0.0.1";  // IPv4 literal
  uint16_t port = 7780;            // 0: any free port
  int max_connections = 128;       // beyond: 503 and close
  WebLimits limits;
  std::function<std::string()> metrics = {};  // RouterConfig::metrics
};

// The daemon's web listener (the seed's webListener/webServer): HTTP/1.1 with
// Boost.Beast, one thread per connection like the unix socket server, routing
// and auth in router.h, WebSockets bridged to the Dispatcher (connection.h).
//
// Thread-safety: Serve() runs on one thread; Shutdown() and EndLogins() may be
// called from any thread. `dispatcher` and `auth` must outlive the server.
class WebServer {
 public:
  // Binds and listens (Unavailable naming the address when it is taken).
  static Result<std::unique_ptr<WebServer>> Listen(WebServerOptions options,
                                                   const rpc::Dispatcher* dispatcher,
                                                   WebAuth* auth);
  ~WebServer();  // Shutdown()
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Accept loop; returns once Shutdown() has completed.
  void Serve() EXCLUDES(mu_);
  // Stops accepting, ends every connection (and the calls their WebSockets
  // carry) and joins their threads. Idempotent.
  void Shutdown() EXCLUDES(mu_);
  // Closes every open connection, WebSockets included (after a token rotation).
  void EndLogins() EXCLUDES(mu_);

  // "host:port" as bound (the real port when options.port was 0).
  const std::string& address() const { return address_; }
  // The login URL: http://host:port/?token=TOKEN.
  std::string Url() const;
  int ConnectionCountForTest() EXCLUDES(mu_);

 private:
  struct Slot {
    std::shared_ptr<WebConnection> conn;
    std::thread thread;
  };
  WebServer(WebServerOptions options, const rpc::Dispatcher* dispatcher, WebAuth* auth,
            int listen_fd, int stop_fd, uint16_t port);
  void AcceptOne() EXCLUDES(mu_);
  void Reap() EXCLUDES(mu_);

  // Immutable after construction.
  const WebServerOptions options_;
  const rpc::Dispatcher* const dispatcher_;
  WebAuth* const auth_;
  const int listen_fd_;
  const int stop_fd_;  // eventfd: wakes Serve and every bridged rpc::Connection
  const std::string address_;
  const RouterConfig router_;

  Mutex mu_{LockRank::kLeaf, "web server"};
  CondVar cv_{&mu_};
  std::list<Slot> conns_ GUARDED_BY(mu_);
  bool shutting_down_ GUARDED_BY(mu_) = false;
  bool shutdown_done_ GUARDED_BY(mu_) = false;
};

}  // namespace warren::web

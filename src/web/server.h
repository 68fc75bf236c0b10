#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "rpc/dispatcher.h"
#include "sys/accept_loop.h"
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
// Boost.Beast, one thread per connection on the unix socket server's accept
// loop (sys::AcceptLoop: limit, reaping, heap trim after a burst), routing
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
  void Serve();
  // Stops accepting, ends every connection (and the calls their WebSockets
  // carry) and joins their threads. Idempotent.
  void Shutdown();
  // Closes every open connection, WebSockets included (after a token rotation).
  void EndLogins() { loop_->StopAll(); }

  // "host:port" as bound (the real port when options.port was 0).
  const std::string& address() const { return address_; }
  // The login URL: http://host:port/?token=TOKEN.
  std::string Url() const;
  int ConnectionCountForTest() { return loop_->ConnectionCountForTest(); }
  int TrimsForTest() { return loop_->TrimsForTest(); }

 private:
  WebServer(WebServerOptions options, const rpc::Dispatcher* dispatcher, WebAuth* auth,
            int listen_fd, uint16_t port);
  std::shared_ptr<sys::ServedConnection> MakeConnection(int fd) const;
  // RouterConfig::page_data: the lists a page is served with ("" on error).
  std::string PageData() const;
  void Refuse(int fd) const;

  // Immutable after construction.
  const WebServerOptions options_;
  const rpc::Dispatcher* const dispatcher_;
  WebAuth* const auth_;
  const int listen_fd_;
  const std::string address_;
  const RouterConfig router_;
  // Set once in Listen; its stop eventfd also wakes every bridged
  // rpc::Connection. Declared after what its hooks use, destroyed before it.
  std::unique_ptr<sys::AcceptLoop> loop_;
  std::once_flag stopped_;  // Shutdown's log line, once for all callers
};

}  // namespace warren::web

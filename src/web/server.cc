#include "web/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/check.h"
#include "rpc/snapshot_lists.h"

namespace warren::web {
namespace {

constexpr std::string_view kBusy =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 33\r\nConnection: close\r\nRetry-After: 1\r\n"
    "Content-Security-Policy: default-src 'self'\r\nX-Content-Type-Options: nosniff\r\n\r\n"
    "too many connections; retry soon\n";

Result<int> BindTcp(const std::string& host, uint16_t port, uint16_t* bound) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgument("web.listen host \"" + host + "\" is not an IPv4 address");
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ErrnoError("socket", errno);
  int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const std::string where = host + ":" + std::to_string(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EADDRINUSE) {
      return Unavailable(where + " is in use; set web.listen to a free address (port 0: any)");
    }
    return ErrnoError("bind " + where, err);
  }
  socklen_t len = sizeof(addr);
  if (::listen(fd, SOMAXCONN) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError("listen on " + where, err);
  }
  *bound = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

Result<std::unique_ptr<WebServer>> WebServer::Listen(WebServerOptions options,
                                                     const rpc::Dispatcher* dispatcher,
                                                     WebAuth* auth) {
  CHECK(dispatcher != nullptr && auth != nullptr);
  if (options.max_connections < 1) return InvalidArgument("web max_connections must be >= 1");
  uint16_t port = 0;
  ASSIGN_OR_RETURN(int fd, BindTcp(options.host, options.port, &port));
  std::unique_ptr<WebServer> server(
      new WebServer(std::move(options), dispatcher, auth, fd, port));
  WebServer* self = server.get();
  ASSIGN_OR_RETURN(server->loop_, sys::AcceptLoop::Create({
                                      .name = "web",
                                      .listen_fd = fd,
                                      .accept_flags = 0,
                                      .max_connections = self->options_.max_connections,
                                      .make = [self](int conn_fd) {
                                        return self->MakeConnection(conn_fd);
                                      },
                                      .refuse = [self](int conn_fd) { self->Refuse(conn_fd); },
                                  }));  // on error ~WebServer closes fd
  spdlog::info("web: listening on http://{}/", server->address_);
  return server;
}

WebServer::WebServer(WebServerOptions options, const rpc::Dispatcher* dispatcher, WebAuth* auth,
                     int listen_fd, uint16_t port)
    : options_(std::move(options)),
      dispatcher_(dispatcher),
      auth_(auth),
      listen_fd_(listen_fd),
      address_(options_.host + ":" + std::to_string(port)),
      router_{AllowedHosts(options_.host, port), 2048, auth, options_.metrics,
              [this] { return PageData(); }} {}

std::string WebServer::PageData() const {
  // The lists as the browser would get them over its WebSocket: each method's
  // own row of the table, as the daemon's owner (what a web login proves).
  rpc::CallContext ctx;
  ctx.peer = options_.limits.peer;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [field, method] : rpc::kSnapshotLists) {
    Result<nlohmann::json> r = dispatcher_->Dispatch(method, nlohmann::json::object(), ctx);
    if (!r.ok()) {
      spdlog::warn("web: serving the page without its lists: {}: {}", method, r.error().message());
      return "";
    }
    out[std::string(field)] = std::move((*r)[std::string(field)]);
  }
  return out.dump();
}

WebServer::~WebServer() {
  if (loop_ != nullptr) Shutdown();
  loop_.reset();
  ::close(listen_fd_);
}

std::string WebServer::Url() const { return "http://" + address_ + "/?token=" + auth_->Token(); }

void WebServer::Serve() {
  loop_->Serve();
  Shutdown();  // returns once the first Shutdown() (which ended the loop) is done
}

std::shared_ptr<sys::ServedConnection> WebServer::MakeConnection(int fd) const {
  // Small frames (a keystroke's echo, one list reply) go out at once: with
  // Nagle's algorithm each waited for the browser's delayed ACK (~40 ms).
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::make_shared<WebConnection>(fd, &options_.limits, &router_, dispatcher_,
                                         loop_->stop_fd());
}

void WebServer::Refuse(int fd) const {
  spdlog::warn("web: refusing a connection: {} open (the limit)", options_.max_connections);
  // Best effort on a fresh socket whose buffer is empty.
  (void)::send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void WebServer::Shutdown() {
  loop_->Shutdown();
  std::call_once(stopped_, [this] { spdlog::info("web: stopped listening on {}", address_); });
}

}  // namespace warren::web

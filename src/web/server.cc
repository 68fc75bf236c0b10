#include "web/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/check.h"

namespace warren::web {
namespace {

constexpr int kReapIntervalMillis = 500;

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
  int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError("eventfd", err);
  }
  spdlog::info("web: listening on http://{}:{}/", options.host, port);
  return std::unique_ptr<WebServer>(
      new WebServer(std::move(options), dispatcher, auth, fd, stop_fd, port));
}

WebServer::WebServer(WebServerOptions options, const rpc::Dispatcher* dispatcher, WebAuth* auth,
                     int listen_fd, int stop_fd, uint16_t port)
    : options_(std::move(options)),
      dispatcher_(dispatcher),
      auth_(auth),
      listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      address_(options_.host + ":" + std::to_string(port)),
      router_{AllowedHosts(options_.host, port), 2048, auth, options_.metrics} {}

WebServer::~WebServer() {
  Shutdown();
  ::close(listen_fd_);
  ::close(stop_fd_);
}

std::string WebServer::Url() const { return "http://" + address_ + "/?token=" + auth_->Token(); }

void WebServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, kReapIntervalMillis);
    if (n < 0 && errno != EINTR) {
      spdlog::error("web: poll on the listening socket failed: {}", std::strerror(errno));
      break;
    }
    if (n > 0 && fds[1].revents != 0) break;
    Reap();
    if (n > 0 && fds[0].revents != 0) AcceptOne();
  }
  MutexLock lock(&mu_);
  while (!shutdown_done_) cv_.Wait(&mu_);
}

void WebServer::AcceptOne() {
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
      spdlog::warn("web: accept failed: {}", std::strerror(errno));
    }
    return;
  }
  auto conn = std::make_shared<WebConnection>(fd, &options_.limits, &router_, dispatcher_,
                                              stop_fd_);
  {
    MutexLock lock(&mu_);
    if (shutting_down_) return;  // conn's destructor closes fd
    if (conns_.size() < static_cast<size_t>(options_.max_connections)) {
      try {
        conns_.push_back(Slot{conn, std::thread([conn] { conn->Run(); })});
      } catch (const std::exception& e) {  // out of threads: refuse this one client
        spdlog::error("web: cannot serve a connection: {}", e.what());
      }
      return;
    }
  }
  spdlog::warn("web: refusing a connection: {} open (the limit)", options_.max_connections);
  // Best effort on a fresh socket whose buffer is empty; conn's destructor closes fd.
  (void)::send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void WebServer::Reap() {
  std::list<Slot> finished;
  {
    MutexLock lock(&mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      auto next = std::next(it);
      if (it->conn->done()) finished.splice(finished.end(), conns_, it);
      it = next;
    }
  }
  for (Slot& slot : finished) slot.thread.join();
}

void WebServer::EndLogins() {
  std::vector<std::shared_ptr<WebConnection>> open;
  {
    MutexLock lock(&mu_);
    for (Slot& slot : conns_) open.push_back(slot.conn);
  }
  for (auto& conn : open) conn->Stop();
}

void WebServer::Shutdown() {
  std::list<Slot> all;
  {
    MutexLock lock(&mu_);
    if (shutting_down_) {
      while (!shutdown_done_) cv_.Wait(&mu_);
      return;
    }
    shutting_down_ = true;
    all.swap(conns_);
  }
  uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof(one)) != sizeof(one)) {
    spdlog::error("web: cannot signal shutdown: {}", std::strerror(errno));
  }
  for (Slot& slot : all) slot.conn->Stop();
  for (Slot& slot : all) slot.thread.join();
  spdlog::info("web: stopped listening on {}", address_);
  MutexLock lock(&mu_);
  shutdown_done_ = true;
  cv_.SignalAll();
}

int WebServer::ConnectionCountForTest() {
  Reap();
  MutexLock lock(&mu_);
  return static_cast<int>(conns_.size());
}

}  // namespace warren::web

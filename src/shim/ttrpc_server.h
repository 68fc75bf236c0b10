#pragma once

// A ttrpc server on a unix socket: each request "service/method" is looked up
// in a table and its handler runs on its own thread, because containerd keeps
// calls in flight on one connection (Wait blocks until the task exits while
// State, Kill and Delete come and go). Responses are written whole, under the
// connection's write lock, in completion order.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "sys/accept_loop.h"

namespace warren::shim::ttrpc {

// Request payload → response payload (both serialised protobuf), or an error
// that goes back as the response's status.
using Handler = std::function<Result<std::string>(std::string_view payload)>;

struct MethodRow {
  std::string service;  // "containerd.task.v2.Task"
  std::string method;   // "Create"
  Handler handler;
};

// Thread-safety: Serve() blocks on one thread; Shutdown() from any thread,
// including a handler (it does not wait for that handler's own connection).
class Server {
 public:
  // Binds and listens on `socket` (an existing socket file is an error:
  // AlreadyExists, so two shims never share one).
  static Result<std::unique_ptr<Server>> Listen(const std::filesystem::path& socket,
                                                std::vector<MethodRow> table);
  // Serves an already-listening fd (it is owned from now on).
  static Result<std::unique_ptr<Server>> FromFd(int listen_fd, std::vector<MethodRow> table);
  ~Server();

  // Accepts and serves until Shutdown().
  void Serve();
  void Shutdown();

 private:
  Server(std::unique_ptr<sys::AcceptLoop> loop, int listen_fd)
      : loop_(std::move(loop)), listen_fd_(listen_fd) {}
  std::unique_ptr<sys::AcceptLoop> loop_;
  const int listen_fd_;  // owned; the loop only borrows it
};

// A listening unix socket at `socket` (AlreadyExists when the file exists):
// the shim's `start` listens before it forks the server, so containerd never
// dials an address nobody listens on.
Result<int> ListenUnix(const std::filesystem::path& socket);

// Serves one connection on `fd` until the peer leaves or `stop_fd` is readable.
// Exposed for tests and the fuzzer, which drive it over a socketpair.
void ServeConnection(int fd, int stop_fd, const std::vector<MethodRow>& table);

}  // namespace warren::shim::ttrpc

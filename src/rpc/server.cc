#include "rpc/server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/check.h"
#include "rpc/connection.h"
#include "rpc/errors.h"

namespace warren::rpc {

namespace fs = std::filesystem;

namespace {

Result<sockaddr_un> UnixAddress(const fs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string& s = path.native();
  if (s.empty() || s.size() >= sizeof(addr.sun_path)) {
    return InvalidArgument("socket path \"" + s + "\" must be 1 to " +
                           std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
  }
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
  return addr;
}

// Removes a stale socket file; refuses a live daemon or a non-socket.
Status ClearStaleSocket(const fs::path& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoError("stat " + path.string(), errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return FailedPrecondition(path.string() +
                              " exists and is not a socket; remove it or set rpc.socket elsewhere");
  }
  ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return ErrnoError("socket", errno);
  int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  ::close(probe);
  if (rc == 0) {
    return AlreadyExists("a warren daemon is already listening on " + path.string() +
                         "; stop it first (or use another rpc.socket)");
  }
  if (err != ECONNREFUSED) return ErrnoError("probe " + path.string(), err);
  spdlog::info("rpc: removing stale socket {}", path.string());
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("remove stale socket " + path.string(), errno);
  }
  return Status::Ok();
}

// Binds a listening socket at `path` that is never reachable with a mode other
// than 0660: bound in a private 0700 directory, chmod'ed, then renamed into
// place (RENAME_NOREPLACE, so a concurrently started daemon is never clobbered).
Result<int> BindPrivately(const ServerOptions& options, struct stat* st_out) {
  fs::path dir = options.socket.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / ".wrpcXXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoError("mkdtemp " + tmpl, errno);
  const fs::path tmp_dir = tmpl;
  const fs::path tmp_sock = tmp_dir / "s";
  int fd = -1;
  auto fail = [&](Status st) -> Result<int> {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp_sock.c_str());
    ::rmdir(tmp_dir.c_str());
    return st;
  };
  Result<sockaddr_un> addr = UnixAddress(tmp_sock);
  if (!addr.ok()) return fail(addr.error());
  fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(ErrnoError("socket", errno));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    return fail(ErrnoError("bind " + tmp_sock.string(), errno));
  }
  if (::chmod(tmp_sock.c_str(), 0660) != 0) return fail(ErrnoError("chmod socket", errno));
  if (options.socket_gid &&
      ::chown(tmp_sock.c_str(), static_cast<uid_t>(-1), *options.socket_gid) != 0) {
    return fail(ErrnoError("chown socket to gid " + std::to_string(*options.socket_gid), errno));
  }
  if (::listen(fd, SOMAXCONN) != 0) return fail(ErrnoError("listen", errno));
  if (::renameat2(AT_FDCWD, tmp_sock.c_str(), AT_FDCWD, options.socket.c_str(), RENAME_NOREPLACE) !=
      0) {
    int err = errno;
    if (err == EEXIST) {
      return fail(AlreadyExists(options.socket.string() +
                                " appeared while starting; is another daemon starting?"));
    }
    return fail(ErrnoError("rename socket into " + options.socket.string(), err));
  }
  ::rmdir(tmp_dir.c_str());
  if (::stat(options.socket.c_str(), st_out) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError("stat " + options.socket.string(), err);
  }
  return fd;
}

PeerCred PeerOf(int fd) {
  PeerCred peer;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    peer.uid = cred.uid;
    peer.gid = cred.gid;
    peer.pid = cred.pid;
  }
  return peer;
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Listen(ServerOptions options,
                                               const Dispatcher* dispatcher) {
  CHECK(dispatcher != nullptr);
  if (options.max_connections < 1 || options.max_requests_per_connection < 1) {
    return InvalidArgument(
        "rpc limits max_connections and max_requests_per_connection must be >= 1");
  }
  RETURN_IF_ERROR(UnixAddress(options.socket).status());
  RETURN_IF_ERROR(ClearStaleSocket(options.socket));
  struct stat st;
  ASSIGN_OR_RETURN(int fd, BindPrivately(options, &st));
  std::unique_ptr<Server> server(new Server(std::move(options), dispatcher, fd, st.st_dev,
                                            st.st_ino));
  Server* self = server.get();
  Result<std::unique_ptr<sys::AcceptLoop>> loop = sys::AcceptLoop::Create({
      .name = "rpc",
      .listen_fd = fd,
      .accept_flags = SOCK_NONBLOCK,
      .max_connections = self->options_.max_connections,
      .make = [self](int conn_fd) { return self->MakeConnection(conn_fd); },
      .refuse = [self](int conn_fd) { self->Refuse(conn_fd); },
  });
  if (!loop.ok()) {
    ::unlink(self->options_.socket.c_str());
    return loop.error();  // ~Server closes fd
  }
  server->loop_ = std::move(*loop);
  spdlog::info("rpc: listening on {}", server->options_.socket.string());
  return server;
}

Server::Server(ServerOptions options, const Dispatcher* dispatcher, int listen_fd, dev_t dev,
               ino_t ino)
    : options_(std::move(options)),
      dispatcher_(dispatcher),
      listen_fd_(listen_fd),
      socket_dev_(dev),
      socket_ino_(ino) {}

Server::~Server() {
  if (loop_ != nullptr) Shutdown();
  loop_.reset();
  ::close(listen_fd_);
}

void Server::Serve() {
  loop_->Serve();
  Shutdown();  // returns once the first Shutdown() (which ended the loop) is done
}

std::shared_ptr<sys::ServedConnection> Server::MakeConnection(int fd) const {
  ConnectionLimits limits{options_.max_frame_bytes, options_.max_requests_per_connection,
                          options_.idle_timeout, options_.send_timeout};
  return std::make_shared<Connection>(fd, PeerOf(fd), loop_->stop_fd(), limits, dispatcher_);
}

void Server::Refuse(int fd) const {
  const PeerCred peer = PeerOf(fd);
  spdlog::warn("rpc: refusing connection from uid {} pid {}: too many connections (limit {})",
               peer.uid, peer.pid, options_.max_connections);
  Status busy = ResourceExhausted("too many connections to the warren daemon (limit " +
                                  std::to_string(options_.max_connections) +
                                  "); raise rpc.max_connections or retry later");
  std::string frame = EncodeJsonFrame(MakeError(nullptr, StatusToJsonRpcError(busy)));
  // Best effort on a fresh socket whose buffer is empty.
  (void)::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Server::Shutdown() {
  // Wakes every connection's reader and blocked writer through the loop's
  // eventfd; readers fire their calls' stop tokens and join their workers.
  loop_->Shutdown();
  std::call_once(unlinked_, [this] {
    struct stat st;
    if (::stat(options_.socket.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
        st.st_ino == socket_ino_) {
      ::unlink(options_.socket.c_str());
    }
    spdlog::info("rpc: stopped listening on {}", options_.socket.string());
  });
}

}  // namespace warren::rpc

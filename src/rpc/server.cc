#include "rpc/server.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
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

// How often the accept loop wakes to join finished connections.
constexpr int kReapIntervalMillis = 500;
// After a burst of connections ends, freed memory goes back to the kernel:
// each connection thread allocated from one of glibc's per-thread arenas, and
// glibc keeps an arena's free pages mapped for reuse, so without a trim the
// daemon's RSS stays at its peak after the clients leave (docs/BENCHMARKS.md,
// soak). Trimming when at least kTrimAfterEnded connections ended since the
// last trim and at most kTrimWhenLive remain costs a few ms, rarely.
constexpr int kTrimAfterEnded = 64;
constexpr size_t kTrimWhenLive = 8;

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
  int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    int err = errno;
    ::unlink(options.socket.c_str());
    ::close(fd);
    return ErrnoError("eventfd", err);
  }
  spdlog::info("rpc: listening on {}", options.socket.string());
  return std::unique_ptr<Server>(
      new Server(std::move(options), dispatcher, fd, stop_fd, st.st_dev, st.st_ino));
}

Server::Server(ServerOptions options, const Dispatcher* dispatcher, int listen_fd, int stop_fd,
               dev_t dev, ino_t ino)
    : options_(std::move(options)),
      dispatcher_(dispatcher),
      listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      socket_dev_(dev),
      socket_ino_(ino) {}

Server::~Server() {
  Shutdown();
  ::close(listen_fd_);
  ::close(stop_fd_);
}

void Server::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, kReapIntervalMillis);
    if (n < 0 && errno != EINTR) {
      spdlog::error("rpc: poll on the listening socket failed: {}", std::strerror(errno));
      break;
    }
    if (n > 0 && fds[1].revents != 0) break;
    Reap();
    if (n > 0 && fds[0].revents != 0) AcceptOne();
  }
  MutexLock lock(&mu_);
  while (!shutdown_done_) cv_.Wait(&mu_);
}


void Server::AcceptOne() {
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
      spdlog::warn("rpc: accept failed: {}", std::strerror(errno));
    }
    return;
  }
  const PeerCred peer = PeerOf(fd);
  ConnectionLimits limits{options_.max_frame_bytes, options_.max_requests_per_connection,
                          options_.idle_timeout, options_.send_timeout};
  auto conn = std::make_shared<Connection>(fd, peer, stop_fd_, limits, dispatcher_);
  bool refused = false;
  {
    MutexLock lock(&mu_);
    if (shutting_down_) return;  // conn's destructor closes fd
    refused = conns_.size() >= static_cast<size_t>(options_.max_connections);
    if (!refused) {
      try {
        conns_.push_back(Slot{conn, std::thread([conn] { conn->Run(); })});
        return;
      } catch (const std::exception& e) {  // out of threads: refuse this one client
        spdlog::error("rpc: cannot serve a connection from uid {} pid {}: {}", peer.uid, peer.pid,
                      e.what());
        return;  // conn's destructor closes fd
      }
    }
  }
  spdlog::warn("rpc: refusing connection from uid {} pid {}: too many connections (limit {})",
               peer.uid, peer.pid, options_.max_connections);
  Status busy = ResourceExhausted("too many connections to the warren daemon (limit " +
                                  std::to_string(options_.max_connections) +
                                  "); raise rpc.max_connections or retry later");
  std::string frame = EncodeJsonFrame(MakeError(nullptr, StatusToJsonRpcError(busy)));
  // Best effort on a fresh socket whose buffer is empty; conn's destructor closes fd.
  (void)::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Server::Reap() {
  std::list<Slot> finished;
  bool trim = false;
  {
    MutexLock lock(&mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      auto next = std::next(it);
      if (it->conn->done()) finished.splice(finished.end(), conns_, it);
      it = next;
    }
    ended_since_trim_ += static_cast<int>(finished.size());
    trim = ended_since_trim_ >= kTrimAfterEnded && conns_.size() <= kTrimWhenLive;
    if (trim) ended_since_trim_ = 0;
  }
  for (Slot& slot : finished) slot.thread.join();
  finished.clear();
  if (trim) ::malloc_trim(0);
}

void Server::Shutdown() {
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
  // Wakes Serve() and every connection's reader and blocked writer; readers
  // fire their calls' stop tokens and join their workers.
  uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof(one)) != sizeof(one)) {
    spdlog::error("rpc: cannot signal shutdown: {}", std::strerror(errno));
  }
  for (Slot& slot : all) slot.thread.join();
  all.clear();
  struct stat st;
  if (::stat(options_.socket.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
      st.st_ino == socket_ino_) {
    ::unlink(options_.socket.c_str());
  }
  spdlog::info("rpc: stopped listening on {}", options_.socket.string());
  MutexLock lock(&mu_);
  shutdown_done_ = true;
  cv_.SignalAll();
}

int Server::ConnectionCountForTest() {
  Reap();
  MutexLock lock(&mu_);
  return static_cast<int>(conns_.size());
}

}  // namespace warren::rpc

#include "shim/ttrpc_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <list>
#include <thread>

#include <spdlog/spdlog.h>

#include "base/mutex.h"
#include "shim/ttrpc.h"

namespace warren::shim::ttrpc {
namespace {

// Writes a whole frame; a failed write marks the connection broken (the reader
// then stops at its next poll).
class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) {}
  void Send(uint32_t stream, const Response& r) EXCLUDES(mu_) {
    std::string frame = EncodeFrame(stream, MessageType::kResponse, EncodeResponse(r));
    MutexLock lock(&mu_);
    size_t off = 0;
    while (off < frame.size() && !broken_) {
      ssize_t n = ::send(fd_, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) broken_ = true;
      else off += static_cast<size_t>(n);
    }
  }

 private:
  const int fd_;
  Mutex mu_{LockRank::kLeaf, "ttrpc write"};
  bool broken_ GUARDED_BY(mu_) = false;
};

const Handler* Find(const std::vector<MethodRow>& table, const Request& r) {
  for (const MethodRow& row : table) {
    if (row.service == r.service && row.method == r.method) return &row.handler;
  }
  return nullptr;
}

Response Handle(const std::vector<MethodRow>& table, const Request& req) {
  const Handler* h = Find(table, req);
  if (h == nullptr) {
    return Response{GrpcCode::kUnimplemented, req.service + "/" + req.method + " not implemented",
                    {}};
  }
  Result<std::string> out = (*h)(req.payload);
  if (!out.ok()) return ErrorResponse(out.status());
  return Response{GrpcCode::kOk, {}, std::move(*out)};
}

// Runs one frame; requests go to their own thread (joined by the caller).
void Dispatch(Frame f, const std::vector<MethodRow>& table, Writer& w,
              std::list<std::thread>& workers) {
  if (f.header.type != static_cast<uint8_t>(MessageType::kRequest)) return;  // ignored, as ttrpc-go
  uint32_t stream = f.header.stream_id;
  Result<Request> req = DecodeRequest(f.message);
  if (!req.ok()) {
    w.Send(stream, ErrorResponse(req.status()));
    return;
  }
  workers.emplace_back([&table, &w, stream, r = std::move(*req)] { w.Send(stream, Handle(table, r)); });
}

class TtrpcConnection : public sys::ServedConnection {
 public:
  TtrpcConnection(int fd, int stop_fd, const std::vector<MethodRow>* table)
      : fd_(fd), stop_fd_(stop_fd), table_(table) {}
  ~TtrpcConnection() override { ::close(fd_); }
  void Run() override {
    ServeConnection(fd_, stop_fd_, *table_);
    done_ = true;
  }
  bool done() const override { return done_; }
  void Stop() override { ::shutdown(fd_, SHUT_RDWR); }

 private:
  const int fd_;
  const int stop_fd_;
  const std::vector<MethodRow>* table_;
  std::atomic<bool> done_{false};
};

}  // namespace

void ServeConnection(int fd, int stop_fd, const std::vector<MethodRow>& table) {
  Writer writer(fd);
  FrameDecoder decoder;
  std::list<std::thread> workers;
  char buf[64 << 10];
  for (bool open = true; open;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int nfds = stop_fd >= 0 ? 2 : 1;
    if (::poll(fds, nfds, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (nfds == 2 && fds[1].revents) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    decoder.Append(std::string_view(buf, static_cast<size_t>(n)));
    while (open) {
      Result<std::optional<Frame>> f = decoder.Next();
      if (!f.ok()) {
        spdlog::warn("ttrpc: closing connection: {}", f.status().ToString());
        open = false;
      } else if (!f->has_value()) {
        break;
      } else {
        Dispatch(std::move(**f), table, writer, workers);
      }
    }
  }
  for (std::thread& t : workers) t.join();
  ::shutdown(fd, SHUT_RDWR);  // the peer sees EOF now, not when the fd is closed
}

Result<std::unique_ptr<Server>> Server::FromFd(int listen_fd, std::vector<MethodRow> table) {
  auto shared = std::make_shared<std::vector<MethodRow>>(std::move(table));
  int flags = ::fcntl(listen_fd, F_GETFL);
  (void)::fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK);
  sys::AcceptLoopOptions o;
  o.name = "ttrpc";
  o.listen_fd = listen_fd;
  o.max_connections = 64;
  // The loop is created before the stop fd is known; connections read it back
  // through this holder once Create returns.
  auto loop_holder = std::make_shared<sys::AcceptLoop*>(nullptr);
  o.make = [shared, loop_holder](int fd) -> std::shared_ptr<sys::ServedConnection> {
    return std::make_shared<TtrpcConnection>(fd, (*loop_holder)->stop_fd(), shared.get());
  };
  o.refuse = [](int) {};
  // The table outlives every connection: the lambda above holds it.
  ASSIGN_OR_RETURN(std::unique_ptr<sys::AcceptLoop> loop, sys::AcceptLoop::Create(std::move(o)));
  *loop_holder = loop.get();
  return std::unique_ptr<Server>(new Server(std::move(loop), listen_fd));
}

Result<int> ListenUnix(const std::filesystem::path& socket) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = socket.string();
  if (path.size() >= sizeof addr.sun_path) {
    return InvalidArgument("ttrpc socket path " + path + " is longer than 107 bytes");
  }
  path.copy(addr.sun_path, path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket", errno);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EADDRINUSE) return AlreadyExists("ttrpc socket " + path + " already exists");
    return ErrnoError("bind " + path, err);
  }
  if (::listen(fd, 64) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError("listen " + path, err);
  }
  return fd;
}

Result<std::unique_ptr<Server>> Server::Listen(const std::filesystem::path& socket,
                                               std::vector<MethodRow> table) {
  ASSIGN_OR_RETURN(int fd, ListenUnix(socket));
  return FromFd(fd, std::move(table));
}

Server::~Server() {
  Shutdown();
  ::close(listen_fd_);
}
void Server::Serve() { loop_->Serve(); }
void Server::Shutdown() { loop_->Shutdown(); }

}  // namespace warren::shim::ttrpc

#include "rpc/client.h"

#include <grp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <variant>

#include "rpc/errors.h"
#include "rpc/jsonrpc.h"

namespace warren::rpc {

using nlohmann::json;

namespace {

Status CannotReach(const std::filesystem::path& socket, const std::string& why) {
  return Unavailable("cannot reach the warren daemon at " + socket.string() + ": " + why +
                     "; start it with `warren daemon`");
}

// The socket's mode and group (rpc.socket_group; the socket is 0660) let this user
// in or not; the fix is membership, not a restart.
Status NotAllowed(const std::filesystem::path& socket) {
  struct stat st{};
  std::string group = "GROUP";
  if (::stat(socket.c_str(), &st) == 0) {
    if (const struct group* g = ::getgrgid(st.st_gid); g != nullptr) group = g->gr_name;
  }
  return FailedPrecondition("permission denied on the warren daemon's socket " + socket.string() +
                            ": join its group (as root: `usermod -aG " + group +
                            " USER`, then log in again) or run as root");
}

Status ConnectionLost(const std::string& why) {
  return Unavailable("lost the connection to the warren daemon: " + why);
}

}  // namespace

Result<std::unique_ptr<Client>> Client::Connect(const std::filesystem::path& socket,
                                                uint32_t max_frame_bytes) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.native().size() >= sizeof(addr.sun_path)) {
    return InvalidArgument("socket path " + socket.string() + " is too long");
  }
  std::memcpy(addr.sun_path, socket.c_str(), socket.native().size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket", errno);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EACCES) return NotAllowed(socket);
    return CannotReach(socket, std::strerror(err));
  }
  int cancel_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (cancel_fd < 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError("eventfd", err);
  }
  return std::unique_ptr<Client>(new Client(fd, cancel_fd, max_frame_bytes));
}

Client::Client(int fd, int cancel_fd, uint32_t max_frame_bytes)
    : fd_(fd), cancel_fd_(cancel_fd), decoder_(max_frame_bytes) {}

Client::~Client() {
  ::close(fd_);
  ::close(cancel_fd_);
}

Result<json> Client::Call(std::string_view method, const json& params, const NotifyFn& on_notify,
                          const StreamFn& on_stream) {
  const json id = next_id_++;
  uint64_t drained;
  while (::read(cancel_fd_, &drained, sizeof(drained)) > 0) {
    // Drops cancels aimed at an earlier call.
  }
  // On a failed write, still read what the daemon sent before closing: it may
  // be the reason (e.g. "too many connections").
  const Status sent = WriteAll(EncodeJsonFrame(MakeRequest(id, method, params)));
  while (true) {
    while (true) {
      Result<std::optional<Frame>> next = decoder_.Next();
      if (!next.ok()) return ConnectionLost(next.error().message());
      if (!next->has_value()) break;
      Frame& frame = **next;
      if (frame.kind == FrameKind::kStream) {
        if (on_stream) on_stream(frame.stream, frame.channel, frame.payload);
        continue;
      }
      auto msg = ParseIncoming(frame.payload);
      if (auto* note = std::get_if<Notification>(&msg)) {
        if (on_notify) on_notify(note->method, note->params);
        continue;
      }
      if (auto* bad = std::get_if<RequestError>(&msg)) {
        return ConnectionLost("malformed message from the daemon: " + bad->error.message);
      }
      Response& resp = std::get<Response>(msg);
      // An error with a null id is about the connection itself (too many
      // connections, a frame the daemon could not read): it ends this call too.
      if (resp.id == id || (resp.id.is_null() && resp.error)) {
        if (resp.error) return JsonRpcErrorToStatus(*resp.error);
        return std::move(*resp.result);
      }
    }
    Status read = ReadSome(id);
    if (!read.ok()) return sent.ok() ? read : sent;
  }
}

Status Client::ReadSome(const json& id) {
  while (true) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {cancel_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("poll", errno);
    }
    if (fds[1].revents != 0) {
      uint64_t count;
      if (::read(cancel_fd_, &count, sizeof(count)) > 0) {
        RETURN_IF_ERROR(WriteAll(EncodeJsonFrame(MakeNotification(kCancelMethod, {{"id", id}}))));
      }
    }
    if (fds[0].revents == 0) continue;
    char buf[64 * 1024];
    ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return ConnectionLost(std::strerror(errno));
    }
    if (n == 0) return ConnectionLost("the daemon closed the connection");
    decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
    return Status::Ok();
  }
}

Status Client::SendStream(uint32_t stream, uint8_t channel, std::string_view bytes) {
  return WriteAll(EncodeStreamFrame(stream, channel, bytes));
}

void Client::Cancel() {
  uint64_t one = 1;
  // write(2) is async-signal-safe; a full counter only means a cancel is already pending.
  ssize_t ignored = ::write(cancel_fd_, &one, sizeof(one));
  (void)ignored;
}

Status Client::WriteAll(std::string_view bytes) {
  MutexLock lock(&write_mu_);
  if (broken_) return ConnectionLost("an earlier write failed");
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    broken_ = true;
    return ConnectionLost(n < 0 ? std::strerror(errno) : "short write");
  }
  return Status::Ok();
}

}  // namespace warren::rpc

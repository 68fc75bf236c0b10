#include "session/guest_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "net/netns.h"

namespace warren {
namespace {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family = AF_UNSPEC;
};

Result<SockAddr> ParseAddr(const std::string& ip, int port) {
  SockAddr a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = a.family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(*v4);
  } else if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = a.family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(*v6);
  } else {
    return InvalidArgument("guest address \"" + ip + "\" is not an IPv4 or IPv6 address");
  }
  if (port <= 0 || port > 65535) return InvalidArgument("guest port out of range");
  return a;
}

// Refusal, unreachability and timeouts mean "not up yet"; anything else is
// ours.
Status ConnectError(const std::string& ip, int port, int err) {
  std::string where = ip + ":" + std::to_string(port);
  switch (err) {
    case ECONNREFUSED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ETIMEDOUT:
    case ECONNRESET:
    case EHOSTDOWN:
    case ENETDOWN:
      return Unavailable("connect to " + where + ": " + std::strerror(err));
    default:
      return ErrnoError("connect to " + where, err);
  }
}

Result<UniqueFd> OpenAndConnect(const std::function<Result<UniqueFd>(int family)>& open,
                                const std::string& ip, int port,
                                std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(SockAddr addr, ParseAddr(ip, port));
  ASSIGN_OR_RETURN(UniqueFd sock, open(addr.family));
  return ConnectWithTimeout(std::move(sock), ip, port, timeout);
}

}  // namespace

Result<UniqueFd> ConnectWithTimeout(UniqueFd sock, const std::string& ip, int port,
                                    std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(SockAddr addr, ParseAddr(ip, port));
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr.storage), addr.len) == 0) {
    return sock;
  }
  if (errno != EINPROGRESS) return ConnectError(ip, port, errno);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return ConnectError(ip, port, ETIMEDOUT);
    pollfd pfd{sock.get(), POLLOUT, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("poll while connecting to " + ip, errno);
    if (n == 0) continue;  // the deadline check above reports the timeout
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      return ErrnoError("getsockopt(SO_ERROR)", errno);
    }
    if (err != 0) return ConnectError(ip, port, err);
    return sock;
  }
}

SocketFactory HostSocketFactory() {
  return [](const std::string& ip, int port, std::chrono::milliseconds timeout) {
    return OpenAndConnect(
        [](int family) -> Result<UniqueFd> {
          int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
          if (fd < 0) return ErrnoError("socket", errno);
          return UniqueFd(fd);
        },
        ip, port, timeout);
  };
}

SocketFactory NetnsSocketFactory(const NetnsHandle& ns) {
  const NetnsHandle* handle = &ns;
  return [handle](const std::string& ip, int port, std::chrono::milliseconds timeout) {
    return OpenAndConnect(
        [handle](int family) {
          return OpenSocketIn(*handle, family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        },
        ip, port, timeout);
  };
}

}  // namespace warren

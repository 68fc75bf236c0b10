#pragma once

// Stand-ins for a guest's servers behind the port relay, shared by
// port_relay_test and bench/publish_bench: a TCP echo server (one epoll
// thread, so a thousand connections cost no threads), a UDP echo server, and
// small blocking client helpers. Each server may live in another network
// namespace (its thread enters it before binding 127.0.0.1:0).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "sys/unique_fd.h"

namespace warren::relay_test {

inline sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

inline uint16_t PortOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// A port free on 127.0.0.1 right now (for the relay's host side).
inline uint16_t FreePort(int type = SOCK_STREAM) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(0);
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
  return PortOf(fd.get());
}

inline int CountOpenFds() {
  int n = 0;
  for (int fd = 0; fd < 65536; ++fd) n += ::fcntl(fd, F_GETFD) != -1;
  return n;
}

// A blocking TCP connection to 127.0.0.1:port with 10 s send/receive timeouts,
// so no test read waits forever. Invalid on failure.
inline UniqueFd Dial(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in a = Loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return UniqueFd();
  return fd;
}

inline bool SendAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w, n -= static_cast<size_t>(w);
  }
  return true;
}

inline bool RecvAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r, n -= static_cast<size_t>(r);
  }
  return true;
}

// Reads until EOF (or a 10 s timeout: then what came so far).
inline std::string RecvToEof(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
    if (r <= 0) return out;
    out.append(buf, static_cast<size_t>(r));
  }
}

// Runs `body` in a thread that first enters the namespace `netns_fd` (-1: stays).
template <typename F>
std::thread ThreadIn(int netns_fd, F body) {
  return std::thread([netns_fd, body = std::move(body)]() mutable {
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) std::abort();
    body();
  });
}

// TCP server on 127.0.0.1:port(): kEcho sends back what it reads, as it reads
// it; kReplyAtEof sends everything back only after the client's EOF (a test of
// half-close: the reply travels after the client's shutdown(SHUT_WR)); kSink
// discards. It closes its side after the client's EOF.
class TcpServer {
 public:
  enum class Mode { kEcho, kReplyAtEof, kSink };
  explicit TcpServer(Mode mode, int netns_fd = -1)
      : mode_(mode), stop_(::eventfd(0, EFD_CLOEXEC)) {
    std::promise<uint16_t> bound;
    auto port = bound.get_future();
    thread_ = ThreadIn(netns_fd, [this, bound = std::move(bound)]() mutable { Run(bound); });
    port_ = port.get();
  }
  ~TcpServer() {
    const uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void Run(std::promise<uint16_t>& bound) {
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = Loopback(0);
    ::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(listener.get(), 4096);
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    Add(ep.get(), listener.get());
    Add(ep.get(), stop_.get());
    bound.set_value(PortOf(listener.get()));
    std::map<int, std::string> held;  // kReplyAtEof: bytes per connection
    std::vector<char> buf(1 << 18);
    epoll_event events[64];
    for (;;) {
      const int n = ::epoll_wait(ep.get(), events, 64, -1);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == stop_.get()) {
          for (auto& [c, bytes] : held) ::close(c);
          return;
        }
        if (fd == listener.get()) {
          for (int c; (c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
            ++accepted_;
            held[c];
            Add(ep.get(), c);
          }
          continue;
        }
        const ssize_t r = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (r > 0) {
          if (mode_ == Mode::kEcho) SendAll(fd, buf.data(), static_cast<size_t>(r));
          if (mode_ == Mode::kReplyAtEof) held[fd].append(buf.data(), static_cast<size_t>(r));
          continue;
        }
        if (r < 0 && errno == EAGAIN) continue;
        if (r == 0 && mode_ == Mode::kReplyAtEof) SendAll(fd, held[fd].data(), held[fd].size());
        held.erase(fd);
        ::close(fd);
      }
    }
  }
  static void Add(int ep, int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }

  const Mode mode_;
  UniqueFd stop_;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// UDP server on 127.0.0.1:port(): answers each datagram with "echo:" + it.
class UdpEchoServer {
 public:
  explicit UdpEchoServer(int netns_fd = -1) {
    std::promise<uint16_t> bound;
    auto port = bound.get_future();
    thread_ = ThreadIn(netns_fd, [this, bound = std::move(bound)]() mutable { Run(bound); });
    port_ = port.get();
  }
  ~UdpEchoServer() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  void Run(std::promise<uint16_t>& bound) {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = Loopback(0);
    ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    bound.set_value(PortOf(fd.get()));
    char buf[65536];
    while (!stop_) {
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      sockaddr_storage from{};
      socklen_t len = sizeof(from);
      const ssize_t r = ::recvfrom(fd.get(), buf + 5, sizeof(buf) - 5, 0,
                                   reinterpret_cast<sockaddr*>(&from), &len);
      if (r < 0) continue;
      std::memcpy(buf, "echo:", 5);
      ::sendto(fd.get(), buf, static_cast<size_t>(r) + 5, 0, reinterpret_cast<sockaddr*>(&from),
               len);
    }
  }

  std::atomic<bool> stop_{false};
  uint16_t port_ = 0;
  std::thread thread_;
};

// A UDP client socket on 127.0.0.1 "connected" to port, 5 s receive timeout.
inline UniqueFd UdpDial(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  timeval tv{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a = Loopback(port);
  ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
  return fd;
}

}  // namespace warren::relay_test

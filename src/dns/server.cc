#include "dns/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace warren {
namespace {

// Datagrams per recvmmsg/sendmmsg: one syscall pair per batch instead of per query.
constexpr size_t kUdpBatch = 32;
constexpr size_t kUdpRounds = 4;       // batches per wakeup, for fairness across sockets
constexpr size_t kMaxUdpQuery = 4096;  // larger UDP queries are dropped (real ones are < 512)
constexpr size_t kMaxPendingOut = 64 * 1024;  // unsent TCP replies before we give up on a peer
constexpr size_t kMaxDatagram = 65536;
constexpr int kTickMs = 200;  // how often idle TCP connections are checked

}  // namespace

struct DnsServer::UdpBatch {
  std::array<mmsghdr, kUdpBatch> in{}, out{};
  std::array<iovec, kUdpBatch> in_iov{}, out_iov{};
  std::array<sockaddr_storage, kUdpBatch> from{};
  std::array<std::array<char, kMaxUdpQuery>, kUdpBatch> query{};
  std::array<std::string, kUdpBatch> reply;

  void PrepareRecv(size_t i) {
    in_iov[i] = {query[i].data(), query[i].size()};
    in[i] = {};
    in[i].msg_hdr.msg_name = &from[i];
    in[i].msg_hdr.msg_namelen = sizeof(from[i]);
    in[i].msg_hdr.msg_iov = &in_iov[i];
    in[i].msg_hdr.msg_iovlen = 1;
  }
  // Reply slot `r` answers received datagram `i`.
  void PrepareSend(size_t r, size_t i) {
    out_iov[r] = {reply[r].data(), reply[r].size()};
    out[r] = {};
    out[r].msg_hdr.msg_name = &from[i];
    out[r].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
    out[r].msg_hdr.msg_iov = &out_iov[r];
    out[r].msg_hdr.msg_iovlen = 1;
  }
};

std::string SourceKey(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
    return std::string(reinterpret_cast<const char*>(&in.sin_addr), sizeof(in.sin_addr));
  }
  if (addr.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
    return std::string(reinterpret_cast<const char*>(&in6.sin6_addr), sizeof(in6.sin6_addr));
  }
  return {};
}

DnsServer::DnsServer(DnsServerOptions options, const DnsRecords* records, Clock* clock)
    : options_(std::move(options)),
      records_(records),
      clock_(clock),
      cache_(options_.answer_cache_entries),
      buf_(kMaxDatagram),
      udp_(std::make_unique<UdpBatch>()) {}

DnsServer::~DnsServer() { Shutdown(); }

Status DnsServer::Start(std::vector<UniqueFd> udp, std::vector<UniqueFd> tcp) {
  if (started_.exchange(true)) return FailedPrecondition("dns: server already started");
  if (udp.empty() && tcp.empty()) return InvalidArgument("dns: no sockets to serve");
  epoll_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) return ErrnoError("dns: epoll_create1", errno);
  wake_ = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) return ErrnoError("dns: eventfd", errno);
  Watch(wake_.get(), Kind::kWake, EPOLLIN);
  for (UniqueFd& fd : udp) {
    Watch(fd.get(), Kind::kUdp, EPOLLIN);
    sockets_.push_back(std::move(fd));
  }
  for (UniqueFd& fd : tcp) {
    // accept() runs until EAGAIN, so a blocking listener would stall the loop.
    int flags = fcntl(fd.get(), F_GETFL);
    if (flags < 0 || fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
      return ErrnoError("dns: make the TCP listener non-blocking", errno);
    }
    Watch(fd.get(), Kind::kListen, EPOLLIN);
    sockets_.push_back(std::move(fd));
  }
  RETURN_IF_ERROR(StartForwarding());
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void DnsServer::Shutdown() {
  if (!started_.load() || stopped_.exchange(true)) return;
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(wake_.get(), &one, sizeof(one)) < 0) spdlog::warn("dns: wake failed: {}", errno);
    thread_.join();
  }
  conns_.clear();
  sockets_.clear();
}

DnsServerStats DnsServer::stats() const {
  DnsServerStats s{answered_.load(), malformed_.load(), rate_limited_.load(),
                   tcp_rejected_.load(), forwarded_count_.load()};
  for (size_t i = 0; i < s.by_rcode.size(); ++i) s.by_rcode[i] = by_rcode_[i].load();
  return s;
}

void DnsServer::Watch(int fd, Kind kind, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    spdlog::warn("dns: epoll_ctl add fd {}: errno {}", fd, errno);
    return;
  }
  kinds_[fd] = kind;
}

void DnsServer::Loop() {
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, 64, kTickMs);
    if (n < 0 && errno != EINTR) {
      spdlog::error("dns: epoll_wait failed: errno {}", errno);
      return;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      auto it = kinds_.find(fd);
      if (it == kinds_.end()) continue;  // closed earlier in this batch
      switch (it->second) {
        case Kind::kWake:
          return;
        case Kind::kUdp:
          OnUdp(fd);
          break;
        case Kind::kListen:
          OnAccept(fd);
          break;
        case Kind::kConn:
          OnConn(fd, events[i].events);
          break;
        case Kind::kUpstream:
          OnUpstream();
          break;
      }
    }
    SweepIdle();
    SweepForwarded();
  }
}

bool DnsServer::Admit(const std::string& source) {
  if (options_.rate_qps <= 0) return true;
  const double burst = std::max(1.0, options_.rate_qps);  // one second's worth
  const auto now = clock_->Monotonic();
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_rate_sources) {
      // Full buckets belong to sources that went quiet: forgetting them changes nothing.
      std::erase_if(buckets_, [&](const auto& kv) {
        double elapsed = std::chrono::duration<double>(now - kv.second.last).count();
        return kv.second.tokens + elapsed * options_.rate_qps >= burst;
      });
      if (buckets_.size() >= options_.max_rate_sources) buckets_.clear();
    }
    it = buckets_.emplace(source, Bucket{burst, now}).first;
  }
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(burst, b.tokens + std::max(0.0, elapsed) * options_.rate_qps);
  b.last = now;
  if (b.tokens < 1) {
    ++rate_limited_;
    return false;
  }
  b.tokens -= 1;
  return true;
}

Result<std::string> DnsServer::Respond(std::string_view query, Transport transport) {
  const uint32_t serial = records_->serial();  // before answering: a change flushes
  std::optional<std::string> wire = cache_.Find(query, transport, serial);
  if (!wire) {
    ASSIGN_OR_RETURN(wire, Answer(query, options_.zone, *records_, transport, options_.max_udp));
    cache_.Insert(query, transport, serial, *wire);
  }
  if (wire->size() >= 4) ++by_rcode_[static_cast<uint8_t>((*wire)[3]) & 0x0f];  // header RCODE
  return *std::move(wire);
}

void DnsServer::OnUdp(int fd) {
  UdpBatch& b = *udp_;
  for (size_t round = 0; round < kUdpRounds; ++round) {
    for (size_t i = 0; i < kUdpBatch; ++i) b.PrepareRecv(i);
    int got = recvmmsg(fd, b.in.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
    if (got <= 0) return;  // EAGAIN, or a transient error reported for an earlier send
    size_t replies = 0;
    for (size_t i = 0; i < static_cast<size_t>(got); ++i) {
      const mmsghdr& m = b.in[i];
      const std::string_view query(b.query[i].data(), m.msg_len);
      const bool cut = (m.msg_hdr.msg_flags & MSG_TRUNC) != 0;  // by our buffer: malformed
      const bool admitted = Admit(SourceKey(b.from[i]));
      if (admitted && !cut &&
          MaybeForward(query, /*tcp=*/false, fd, &b.from[i], m.msg_hdr.msg_namelen)) {
        continue;
      }
      // Over the source's limit: TC and no records, so a real resolver retries over TCP.
      Result<std::string> reply = cut ? Result<std::string>(InvalidArgument("dns: oversized datagram"))
                                  : admitted ? Respond(query, Transport::kUdp)
                                             : TruncatedReply(query, options_.max_udp);
      if (!reply.ok()) {
        ++malformed_;
        continue;
      }
      b.reply[replies] = std::move(reply).value();
      b.PrepareSend(replies, i);
      ++replies;
    }
    // Counted before sending so a client that has its reply also sees the count. Best
    // effort, as UDP is: a full socket buffer drops replies and clients retry.
    answered_ += replies;
    if (replies > 0) sendmmsg(fd, b.out.data(), static_cast<unsigned>(replies), MSG_DONTWAIT);
    if (static_cast<size_t>(got) < kUdpBatch) return;  // drained
  }
}

void DnsServer::OnAccept(int fd) {
  for (;;) {
    int conn = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) return;
    if (conns_.size() >= options_.max_tcp_connections) {
      ++tcp_rejected_;  // before close(), which the peer can observe
      close(conn);
      continue;
    }
    Conn c;
    c.fd = UniqueFd(conn);
    c.last_active = clock_->Monotonic();
    conns_.emplace(conn, std::move(c));
    Watch(conn, Kind::kConn, EPOLLIN);
  }
}

void DnsServer::OnConn(int fd, uint32_t events) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (events & EPOLLIN) {
    for (;;) {
      ssize_t n = recv(fd, buf_.data(), buf_.size(), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        return CloseConn(fd);
      }
      if (n < 0) break;
      c.in.append(buf_.data(), static_cast<size_t>(n));
      c.last_active = clock_->Monotonic();
      if (!ServeBuffered(c)) return CloseConn(fd);
    }
  } else if (events & (EPOLLERR | EPOLLHUP)) {
    return CloseConn(fd);
  }
  if (!Flush(c)) CloseConn(fd);
}

bool DnsServer::ServeBuffered(Conn& c) {
  while (c.in.size() >= 2) {
    const size_t len = (static_cast<uint8_t>(c.in[0]) << 8) | static_cast<uint8_t>(c.in[1]);
    if (len == 0 || len > options_.max_tcp_message) return false;
    if (c.in.size() < 2 + len) return true;
    std::string_view msg(c.in.data() + 2, len);
    if (!MaybeForward(msg, /*tcp=*/true, c.fd.get(), nullptr, 0)) {
      Result<std::string> reply = Respond(msg, Transport::kTcp);
      if (!reply.ok()) {
        ++malformed_;
        return false;
      }
      c.out.push_back(static_cast<char>(reply->size() >> 8));
      c.out.push_back(static_cast<char>(reply->size() & 0xff));
      c.out += *reply;
      ++answered_;
    }
    c.in.erase(0, 2 + len);
    if (c.out.size() > kMaxPendingOut) return false;
  }
  return true;
}

bool DnsServer::Flush(Conn& c) {
  while (!c.out.empty()) {
    ssize_t n = send(c.fd.get(), c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      break;
    }
    c.out.erase(0, static_cast<size_t>(n));
  }
  epoll_event ev{};
  ev.events = c.out.empty() ? EPOLLIN : (EPOLLIN | EPOLLOUT);
  ev.data.fd = c.fd.get();
  return epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) == 0;
}

void DnsServer::CloseConn(int fd) {
  // A reply still upstream must not reach a later connection given the same fd.
  std::erase_if(forwarded_, [fd](const auto& kv) { return kv.second.tcp && kv.second.fd == fd; });
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  kinds_.erase(fd);
  conns_.erase(fd);  // closes the socket
}

void DnsServer::SweepIdle() {
  if (options_.tcp_idle_timeout.count() <= 0 || conns_.empty()) return;
  const auto now = clock_->Monotonic();
  std::vector<int> idle;
  for (const auto& [fd, c] : conns_) {
    if (now - c.last_active >= options_.tcp_idle_timeout) idle.push_back(fd);
  }
  for (int fd : idle) CloseConn(fd);
}

}  // namespace warren

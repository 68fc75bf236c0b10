// DnsServer's forwarding of names outside the zone to upstream resolvers (the
// `host` network mode). Runs on the server's loop thread like the rest of it:
// one unbound UDP socket to the upstreams, watched by the same epoll; replies
// are matched by the query id we chose and relayed with the client's own id.
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "dns/listen.h"
#include "dns/server.h"

namespace warren {
namespace {

uint16_t IdOf(std::string_view wire) {
  return static_cast<uint16_t>((static_cast<uint8_t>(wire[0]) << 8) |
                               static_cast<uint8_t>(wire[1]));
}

void SetId(std::string& wire, uint16_t id) {
  wire[0] = static_cast<char>(id >> 8);
  wire[1] = static_cast<char>(id & 0xff);
}

}  // namespace

Status DnsServer::StartForwarding() {
  if (options_.upstreams.empty()) return Status::Ok();
  for (const std::string& u : options_.upstreams) {
    ASSIGN_OR_RETURN(auto host_port, ParseIpv4HostPort(u));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(host_port.second);
    ::inet_pton(AF_INET, host_port.first.c_str(), &addr.sin_addr);
    upstream_addrs_.push_back(addr);
  }
  upstream_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!upstream_.valid()) return ErrnoError("dns: upstream socket", errno);
  Watch(upstream_.get(), Kind::kUpstream, EPOLLIN);
  return Status::Ok();
}

bool DnsServer::MaybeForward(std::string_view query, bool tcp, int fd,
                             const sockaddr_storage* from, socklen_t from_len) {
  if (upstream_addrs_.empty() || query.size() < 12) return false;
  if (!IsOutsideZone(query, options_.zone, *records_)) return false;
  if (forwarded_.size() >= options_.max_forwarded) return true;  // dropped; the client retries
  uint16_t id = next_forward_id_;
  while (forwarded_.count(id) != 0) ++id;
  next_forward_id_ = static_cast<uint16_t>(id + 1);

  Forwarded f;
  f.tcp = tcp;
  f.fd = fd;
  if (from != nullptr) {
    f.from = *from;
    f.from_len = from_len;
  }
  f.client_id = IdOf(query);
  f.deadline = clock_->Monotonic() + options_.forward_timeout;
  std::string out(query);
  SetId(out, id);
  const sockaddr_in& to = upstream_addrs_[next_upstream_++ % upstream_addrs_.size()];
  if (::sendto(upstream_.get(), out.data(), out.size(), MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&to), sizeof(to)) < 0) {
    return true;  // unreachable upstream: dropped, as a lost datagram would be
  }
  forwarded_[id] = f;
  ++forwarded_count_;
  return true;
}

void DnsServer::OnUpstream() {
  char buf[4096];
  for (;;) {
    sockaddr_in src{};
    socklen_t src_len = sizeof(src);
    ssize_t n = ::recvfrom(upstream_.get(), buf, sizeof(buf), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&src), &src_len);
    if (n < 0) return;  // drained (EAGAIN) or an ICMP error for an earlier send
    if (n < 12) continue;
    bool known = false;  // only our upstreams may answer (no spoofed replies)
    for (const sockaddr_in& u : upstream_addrs_) {
      known |= u.sin_addr.s_addr == src.sin_addr.s_addr && u.sin_port == src.sin_port;
    }
    std::string reply(buf, static_cast<size_t>(n));
    auto it = forwarded_.find(IdOf(reply));
    if (!known || it == forwarded_.end()) continue;
    Forwarded f = it->second;
    forwarded_.erase(it);
    SetId(reply, f.client_id);
    if (!f.tcp) {
      ::sendto(f.fd, reply.data(), reply.size(), MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&f.from), f.from_len);
      ++answered_;
      continue;
    }
    auto conn = conns_.find(f.fd);
    if (conn == conns_.end()) continue;  // the client hung up meanwhile
    conn->second.out.push_back(static_cast<char>(reply.size() >> 8));
    conn->second.out.push_back(static_cast<char>(reply.size() & 0xff));
    conn->second.out += reply;
    ++answered_;
    if (!Flush(conn->second)) CloseConn(f.fd);
  }
}

void DnsServer::SweepForwarded() {
  if (forwarded_.empty()) return;
  const auto now = clock_->Monotonic();
  std::erase_if(forwarded_, [&](const auto& kv) { return kv.second.deadline <= now; });
}

}  // namespace warren

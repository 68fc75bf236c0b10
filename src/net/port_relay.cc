#include "net/port_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <map>
#include <vector>

namespace warren {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// Bytes one splice(2) may move; the pipe's capacity bounds it in practice.
constexpr size_t kSpliceChunk = size_t{1} << 20;
// Work one connection or listener may do per wake-up before the others get a
// turn (edge-triggered: what is left is resumed from the ready list).
constexpr int kPumpRounds = 16;
constexpr int kDatagramsPerWake = 64;
constexpr int kAcceptsPerWake = 64;
// Pipe capacity per direction: 4 x the default 64 KiB means a quarter of the
// wake-ups per byte on bulk transfers; pages are only taken while bytes wait.
constexpr int kPipeBytes = 256 << 10;

bool SameNetns(int fd) {
  struct stat a {}, b {};
  return ::fstat(fd, &a) == 0 && ::stat("/proc/thread-self/ns/net", &b) == 0 &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void SetNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Result<UniqueFd> BindListener(const PublishSpec& spec) {
  socklen_t len = 0;
  ASSIGN_OR_RETURN(sockaddr_storage addr, ListenAddress(spec, &len));
  const int type = spec.proto == PublishSpec::Proto::kTcp ? SOCK_STREAM : SOCK_DGRAM;
  UniqueFd fd(::socket(addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("socket for published port " + spec.ToString(), errno);
  int one = 1;
  if (type == SOCK_STREAM) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    const std::string where = spec.host_ip + ":" + std::to_string(spec.host_port) + "/" +
                              spec.ProtoName();
    if (err == EADDRINUSE) {
      return FailedPrecondition("host port " + where +
                                " is already in use by another program; pick another host port");
    }
    if (err == EADDRNOTAVAIL) {
      return FailedPrecondition("host address " + spec.host_ip +
                                " is not an address of this host; use 127.0.0.1 or 0.0.0.0");
    }
    if (err == EACCES) {
      return FailedPrecondition("binding " + where +
                                " needs privilege (ports below 1024); pick a higher host port");
    }
    return ErrnoError("bind " + where, err);
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), SOMAXCONN) != 0) {
    return ErrnoError("listen on " + spec.ToString(), errno);
  }
  return fd;
}

}  // namespace

// Everything below is owned and touched by the loop thread alone.
struct PortRelay::Loop {
  struct Listener;
  // What an epoll event's data.ptr points at.
  struct Handle {
    enum class Kind { kWake, kListener, kClient, kGuest, kFlow } kind;
    void* obj = nullptr;
  };
  // One direction of a TCP connection: src → pipe → dst.
  struct Pipe {
    UniqueFd r, w;
    size_t pending = 0;  // bytes in the pipe not yet written to dst
    bool eof = false;    // src said EOF
    bool shut = false;   // ... and dst was told (SHUT_WR) after the last byte
  };
  struct TcpConn {
    Listener* owner;
    UniqueFd client, guest;
    Handle client_h{Handle::Kind::kClient, this}, guest_h{Handle::Kind::kGuest, this};
    Pipe up, down;  // client → guest, guest → client
    bool connected = false;
    bool dead = false;
    bool queued = false;  // on the ready list
    SteadyTime connect_deadline;
  };
  struct UdpFlow {
    Listener* owner;
    std::string key;  // the client's address bytes
    sockaddr_storage client{};
    socklen_t client_len = 0;
    UniqueFd fd;  // connected to the guest
    Handle h{Handle::Kind::kFlow, this};
    SteadyTime last_active;
    bool dead = false;
  };
  struct Listener {
    Id id;
    PublishSpec spec;
    sockaddr_in guest{};
    UniqueFd fd;
    Handle h{Handle::Kind::kListener, this};
    std::map<TcpConn*, std::unique_ptr<TcpConn>> conns;
    std::map<std::string, std::unique_ptr<UdpFlow>> flows;
    uint64_t dropped_datagrams = 0;
    bool paused = false;  // out of fds: accept resumes at the next sweep
    bool dead = false;
  };

  Loop(PortRelay* relay, UniqueFd epoll) : relay_(relay), epoll_(std::move(epoll)) {}

  void Run();

 private:
  bool Control(int op, int fd, uint32_t events, Handle* h) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = h;
    return ::epoll_ctl(epoll_.get(), op, fd, &ev) == 0;
  }
  std::chrono::milliseconds SweepInterval() const;
  bool RunCommands();  // false on kStop
  void AddListener(Command& command);
  void RemoveListener(Id id);
  void Dispatch(Handle* h, uint32_t events);
  void Accept(Listener& l);
  void StartConnection(Listener& l, UniqueFd client);
  void OnGuestEvent(TcpConn& c, uint32_t events);
  void Pump(TcpConn& c);
  bool PumpDirection(int src, int dst, Pipe& p, int* rounds);
  void CloseConn(TcpConn& c, bool failed);
  void OnDatagramFromClient(Listener& l);
  void OnDatagramFromGuest(UdpFlow& f);
  UdpFlow* NewFlow(Listener& l, const sockaddr_storage& from, socklen_t len, std::string key);
  void CloseFlow(UdpFlow& f);
  void Sweep(SteadyTime now);
  // After each batch, once the dead are freed (so a removed port is free):
  // the stats, and which commands are done (what Add and Remove wait for).
  void Publish();

  PortRelay* const relay_;
  const UniqueFd epoll_;
  Handle wake_h_{Handle::Kind::kWake, nullptr};
  std::map<Id, std::unique_ptr<Listener>> listeners_;
  // Freed after each batch of events, which may still name them.
  std::vector<std::unique_ptr<TcpConn>> dead_conns_;
  std::vector<std::unique_ptr<UdpFlow>> dead_flows_;
  std::vector<std::unique_ptr<Listener>> dead_listeners_;
  std::vector<TcpConn*> ready_;  // connections whose pump ran out of rounds
  std::vector<char> datagram_ = std::vector<char>(65536);
  Stats stats_;
  uint64_t done_seq_ = 0;
};

std::chrono::milliseconds PortRelay::Loop::SweepInterval() const {
  using std::chrono::milliseconds;
  const auto& o = relay_->options_;
  return std::clamp(std::min(o.udp_idle, o.connect_timeout) / 4, milliseconds(10),
                    milliseconds(1000));
}

void PortRelay::Loop::Run() {
  Control(EPOLL_CTL_ADD, relay_->wake_.get(), EPOLLIN, &wake_h_);
  std::vector<epoll_event> events(256);
  const auto interval = SweepInterval();
  SteadyTime next_sweep = std::chrono::steady_clock::now() + interval;
  for (;;) {
    const int timeout = ready_.empty() ? static_cast<int>(interval.count()) : 0;
    const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                               timeout);
    if (n < 0 && errno != EINTR) {
      spdlog::error("port relay: epoll_wait: {}", std::strerror(errno));
      break;
    }
    bool stop = false;
    for (int i = 0; i < n; ++i) {
      auto* h = static_cast<Handle*>(events[i].data.ptr);
      if (h->kind == Handle::Kind::kWake) {
        stop = !RunCommands();
      } else {
        Dispatch(h, events[i].events);
      }
    }
    std::vector<TcpConn*> again;
    again.swap(ready_);
    for (TcpConn* c : again) {
      c->queued = false;
      if (!c->dead) Pump(*c);
    }
    if (const SteadyTime now = std::chrono::steady_clock::now(); now >= next_sweep) {
      Sweep(now);
      next_sweep = now + interval;
    }
    dead_conns_.clear();
    dead_flows_.clear();
    dead_listeners_.clear();
    Publish();
    if (stop) break;
  }
  for (auto& [id, l] : listeners_) l->conns.clear(), l->flows.clear();
  listeners_.clear();
}

bool PortRelay::Loop::RunCommands() {
  uint64_t counter = 0;
  (void)!::read(relay_->wake_.get(), &counter, sizeof(counter));
  std::deque<Command> commands;
  {
    MutexLock lock(&relay_->mu_);
    commands.swap(relay_->commands_);
  }
  bool keep_running = true;
  for (Command& command : commands) {
    switch (command.kind) {
      case Command::Kind::kAdd: AddListener(command); break;
      case Command::Kind::kRemove: RemoveListener(command.id); break;
      case Command::Kind::kStop: keep_running = false; break;
    }
  }
  if (!commands.empty()) done_seq_ = commands.back().seq;
  return keep_running;
}

void PortRelay::Loop::AddListener(Command& command) {
  auto l = std::make_unique<Listener>();
  l->id = command.id;
  l->spec = command.spec;
  l->fd = std::move(command.listener);
  l->guest.sin_family = AF_INET;
  l->guest.sin_port = htons(command.spec.guest_port);
  ::inet_pton(AF_INET, command.guest_ip.c_str(), &l->guest.sin_addr);  // checked by Add
  Control(EPOLL_CTL_ADD, l->fd.get(), EPOLLIN, &l->h);
  listeners_[l->id] = std::move(l);
}

void PortRelay::Loop::RemoveListener(Id id) {
  auto it = listeners_.find(id);
  if (it == listeners_.end()) return;
  Listener& l = *it->second;
  while (!l.conns.empty()) CloseConn(*l.conns.begin()->second, false);
  while (!l.flows.empty()) CloseFlow(*l.flows.begin()->second);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, l.fd.get(), nullptr);
  l.fd.Reset();
  l.dead = true;
  dead_listeners_.push_back(std::move(it->second));
  listeners_.erase(it);
}

void PortRelay::Loop::Dispatch(Handle* h, uint32_t events) {
  switch (h->kind) {
    case Handle::Kind::kListener: {
      auto* l = static_cast<Listener*>(h->obj);
      if (l->dead) return;
      if (l->spec.proto == PublishSpec::Proto::kTcp) {
        Accept(*l);
      } else {
        OnDatagramFromClient(*l);
      }
      return;
    }
    case Handle::Kind::kClient: {
      auto* c = static_cast<TcpConn*>(h->obj);
      if (!c->dead) Pump(*c);
      return;
    }
    case Handle::Kind::kGuest: {
      auto* c = static_cast<TcpConn*>(h->obj);
      if (!c->dead) OnGuestEvent(*c, events);
      return;
    }
    case Handle::Kind::kFlow: {
      auto* f = static_cast<UdpFlow*>(h->obj);
      if (!f->dead) OnDatagramFromGuest(*f);
      return;
    }
    case Handle::Kind::kWake: return;
  }
}

void PortRelay::Loop::Accept(Listener& l) {
  for (int i = 0; i < kAcceptsPerWake; ++i) {
    UniqueFd client(::accept4(l.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (client.valid()) {
      StartConnection(l, std::move(client));
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      spdlog::warn("port relay {}: accept: {}; pausing the listener", l.spec.ToString(),
                   std::strerror(errno));
      l.paused = true;
      Control(EPOLL_CTL_MOD, l.fd.get(), 0, &l.h);
    }
    return;  // EAGAIN: none left
  }
}

void PortRelay::Loop::StartConnection(Listener& l, UniqueFd client) {
  ++stats_.tcp_accepted;
  auto owned = std::make_unique<TcpConn>();
  TcpConn& c = *owned;
  c.owner = &l;
  c.client = std::move(client);
  c.connect_deadline = std::chrono::steady_clock::now() + relay_->options_.connect_timeout;
  int up[2], down[2];
  if (::pipe2(up, O_NONBLOCK | O_CLOEXEC) != 0) return (void)++stats_.tcp_failed;
  c.up.r.Reset(up[0]), c.up.w.Reset(up[1]);
  if (::pipe2(down, O_NONBLOCK | O_CLOEXEC) != 0) return (void)++stats_.tcp_failed;
  c.down.r.Reset(down[0]), c.down.w.Reset(down[1]);
  // Best effort: an unprivileged daemon past its pipe quota keeps the default.
  ::fcntl(up[1], F_SETPIPE_SZ, kPipeBytes);
  ::fcntl(down[1], F_SETPIPE_SZ, kPipeBytes);
  // This thread lives in the VM namespace: the socket is made there.
  c.guest.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.guest.valid()) return (void)++stats_.tcp_failed;
  SetNoDelay(c.client.get());
  SetNoDelay(c.guest.get());
  if (::connect(c.guest.get(), reinterpret_cast<const sockaddr*>(&l.guest), sizeof(l.guest)) != 0 &&
      errno != EINPROGRESS) {
    return (void)++stats_.tcp_failed;  // closing the client tells it at once
  }
  if (!Control(EPOLL_CTL_ADD, c.guest.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
               &c.guest_h)) {
    return (void)++stats_.tcp_failed;
  }
  l.conns[&c] = std::move(owned);
}

void PortRelay::Loop::OnGuestEvent(TcpConn& c, uint32_t events) {
  if (!c.connected) {
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(c.guest.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return CloseConn(c, true);
    if ((events & EPOLLOUT) == 0) return;
    c.connected = true;
    // Registering reports bytes the client sent while we connected.
    if (!Control(EPOLL_CTL_ADD, c.client.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                 &c.client_h)) {
      return CloseConn(c, true);
    }
  }
  Pump(c);
}

void PortRelay::Loop::Pump(TcpConn& c) {
  if (!c.connected) return;
  int rounds = kPumpRounds;
  if (!PumpDirection(c.client.get(), c.guest.get(), c.up, &rounds) ||
      !PumpDirection(c.guest.get(), c.client.get(), c.down, &rounds)) {
    return CloseConn(c, false);
  }
  if (c.up.shut && c.down.shut) return CloseConn(c, false);
  if (rounds <= 0 && !c.queued) {
    c.queued = true;
    ready_.push_back(&c);
  }
}

// Moves bytes src → dst until one of them would block, EOF has been passed on,
// or `rounds` run out. False on an error that ends the connection (a reset).
bool PortRelay::Loop::PumpDirection(int src, int dst, Pipe& p, int* rounds) {
  constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
  while (*rounds > 0) {
    if (p.pending > 0) {
      const ssize_t n = ::splice(p.r.get(), nullptr, dst, nullptr, p.pending, kFlags);
      if (n > 0) {
        p.pending -= static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && errno == EAGAIN;  // EAGAIN: dst is full, EPOLLOUT resumes
    }
    if (p.eof) {
      if (!p.shut) ::shutdown(dst, SHUT_WR);
      p.shut = true;
      return true;
    }
    --*rounds;
    const ssize_t n = ::splice(src, nullptr, p.w.get(), nullptr, kSpliceChunk, kFlags);
    if (n > 0) {
      p.pending = static_cast<size_t>(n);
    } else if (n == 0) {
      p.eof = true;
    } else if (errno != EINTR) {
      return errno == EAGAIN;  // EAGAIN: src is empty, EPOLLIN resumes
    }
  }
  return true;
}

void PortRelay::Loop::CloseConn(TcpConn& c, bool failed) {
  if (failed) ++stats_.tcp_failed;
  c.dead = true;
  // Closing a registered fd removes it from the epoll set (no dup exists).
  c.client.Reset();
  c.guest.Reset();
  auto it = c.owner->conns.find(&c);
  dead_conns_.push_back(std::move(it->second));
  c.owner->conns.erase(it);
}

void PortRelay::Loop::OnDatagramFromClient(Listener& l) {
  for (int i = 0; i < kDatagramsPerWake; ++i) {
    sockaddr_storage from{};
    socklen_t len = sizeof(from);
    const ssize_t n = ::recvfrom(l.fd.get(), datagram_.data(), datagram_.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;  // EAGAIN, or an error queued by an ICMP: nothing to relay
    std::string key(reinterpret_cast<const char*>(&from), len);
    UdpFlow* flow = nullptr;
    if (auto it = l.flows.find(key); it != l.flows.end()) {
      flow = it->second.get();
    } else {
      flow = NewFlow(l, from, len, std::move(key));
      if (flow == nullptr) continue;
    }
    flow->last_active = std::chrono::steady_clock::now();
    ::send(flow->fd.get(), datagram_.data(), static_cast<size_t>(n), MSG_DONTWAIT);
  }
}

PortRelay::Loop::UdpFlow* PortRelay::Loop::NewFlow(Listener& l, const sockaddr_storage& from,
                                                   socklen_t len, std::string key) {
  if (l.flows.size() >= relay_->options_.max_udp_flows) {
    if (l.dropped_datagrams++ % 1000 == 0) {
      spdlog::warn("port relay {}: {} UDP flows open; dropping datagrams from new clients",
                   l.spec.ToString(), l.flows.size());
    }
    return nullptr;
  }
  auto flow = std::make_unique<UdpFlow>();
  flow->owner = &l;
  flow->key = key;
  flow->client = from;
  flow->client_len = len;
  flow->fd.Reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!flow->fd.valid() ||
      ::connect(flow->fd.get(), reinterpret_cast<const sockaddr*>(&l.guest), sizeof(l.guest)) !=
          0 ||
      !Control(EPOLL_CTL_ADD, flow->fd.get(), EPOLLIN, &flow->h)) {
    return nullptr;
  }
  UdpFlow* raw = flow.get();
  l.flows[std::move(key)] = std::move(flow);
  return raw;
}

void PortRelay::Loop::OnDatagramFromGuest(UdpFlow& f) {
  Listener& l = *f.owner;
  for (int i = 0; i < kDatagramsPerWake; ++i) {
    const ssize_t n = ::recv(f.fd.get(), datagram_.data(), datagram_.size(), 0);
    if (n < 0) {
      if (errno == ECONNREFUSED) continue;  // the guest port is closed (ICMP); keep the flow
      return;
    }
    f.last_active = std::chrono::steady_clock::now();
    ::sendto(l.fd.get(), datagram_.data(), static_cast<size_t>(n), MSG_DONTWAIT,
             reinterpret_cast<const sockaddr*>(&f.client), f.client_len);
  }
}

void PortRelay::Loop::CloseFlow(UdpFlow& f) {
  f.dead = true;
  f.fd.Reset();
  auto it = f.owner->flows.find(f.key);
  dead_flows_.push_back(std::move(it->second));
  f.owner->flows.erase(it);
}

void PortRelay::Loop::Sweep(SteadyTime now) {
  for (auto& [id, l] : listeners_) {
    if (l->paused) {
      l->paused = false;
      Control(EPOLL_CTL_MOD, l->fd.get(), EPOLLIN, &l->h);
    }
    for (auto it = l->conns.begin(); it != l->conns.end();) {
      TcpConn& c = *(it++)->second;
      if (!c.connected && now >= c.connect_deadline) CloseConn(c, true);
    }
    for (auto it = l->flows.begin(); it != l->flows.end();) {
      UdpFlow& f = *(it++)->second;
      if (now - f.last_active >= relay_->options_.udp_idle) CloseFlow(f);
    }
  }
}

void PortRelay::Loop::Publish() {
  stats_.listeners = listeners_.size();
  stats_.tcp_connections = 0;
  stats_.udp_flows = 0;
  for (auto& [id, l] : listeners_) {
    stats_.tcp_connections += l->conns.size();
    stats_.udp_flows += l->flows.size();
  }
  MutexLock lock(&relay_->mu_);
  relay_->stats_ = stats_;
  if (done_seq_ > relay_->done_seq_) {
    relay_->done_seq_ = done_seq_;
    relay_->done_cv_.SignalAll();
  }
}

// --- PortRelay: the thread-safe front ---

PortRelay::PortRelay(Options options, UniqueFd wake)
    : options_(options), wake_(std::move(wake)) {}

Result<std::unique_ptr<PortRelay>> PortRelay::Start(const NetnsHandle& guest_ns,
                                                    Options options) {
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake.valid()) return ErrnoError("eventfd for the port relay", errno);
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid()) return ErrnoError("epoll for the port relay", errno);
  std::unique_ptr<PortRelay> relay(new PortRelay(options, std::move(wake)));
  auto loop = std::make_unique<Loop>(relay.get(), std::move(epoll));
  const int ns_fd = guest_ns.fd();
  const bool enter = !SameNetns(ns_fd);
  std::promise<Status> entered;
  std::future<Status> entered_future = entered.get_future();
  relay->thread_ = std::thread([r = relay.get(), l = std::move(loop), ns_fd, enter,
                                entered = std::move(entered)]() mutable {
    if (enter && ::setns(ns_fd, CLONE_NEWNET) != 0) {
      entered.set_value(ErrnoError("port relay: setns into the VM network namespace", errno));
      return;
    }
    entered.set_value(Status::Ok());
    r->Run(std::move(l));
  });
  Status status = entered_future.get();
  if (!status.ok()) {
    relay->thread_.join();
    return status;
  }
  return relay;
}

void PortRelay::Run(std::unique_ptr<Loop> loop) {
  loop->Run();
  loop.reset();  // closes what is left before anyone waits on it
  MutexLock lock(&mu_);
  loop_gone_ = true;
  done_cv_.SignalAll();
}

PortRelay::~PortRelay() {
  if (thread_.joinable()) {
    Post(Command{});  // kStop
    thread_.join();
  }
}

uint64_t PortRelay::Post(Command command) {
  uint64_t seq = 0;
  {
    MutexLock lock(&mu_);
    seq = command.seq = ++posted_seq_;
    commands_.push_back(std::move(command));
  }
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
  return seq;
}

void PortRelay::AwaitDone(uint64_t seq) {
  MutexLock lock(&mu_);
  while (done_seq_ < seq && !loop_gone_) done_cv_.Wait(&mu_);
}

Result<PortRelay::Id> PortRelay::Add(const PublishSpec& spec, const std::string& guest_ip) {
  in_addr probe{};
  if (::inet_pton(AF_INET, guest_ip.c_str(), &probe) != 1) {
    return InvalidArgument("guest address \"" + guest_ip + "\" is not an IPv4 address");
  }
  ASSIGN_OR_RETURN(UniqueFd listener, BindListener(spec));
  Command command;
  command.kind = Command::Kind::kAdd;
  {
    MutexLock lock(&mu_);
    if (loop_gone_) return Internal("the port relay has stopped");
    command.id = next_id_++;
  }
  const Id id = command.id;
  command.listener = std::move(listener);
  command.spec = spec;
  command.guest_ip = guest_ip;
  AwaitDone(Post(std::move(command)));
  return id;
}

void PortRelay::Remove(Id id) {
  Command command;
  command.kind = Command::Kind::kRemove;
  command.id = id;
  AwaitDone(Post(std::move(command)));
}

PortRelay::Stats PortRelay::GetStats() {
  MutexLock lock(&mu_);
  return stats_;
}

}  // namespace warren

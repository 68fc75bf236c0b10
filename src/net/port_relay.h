#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "base/status.h"
#include "net/netns.h"
#include "net/publish_spec.h"
#include "sys/unique_fd.h"

namespace warren {

// The relay behind `vm publish`: listeners in the daemon's own namespace that
// carry each TCP connection, and each UDP flow, to a guest's ip:port through a
// socket made in the VM namespace. That is how a published port works in
// `isolated` mode, where the host has no route to the guests at all; nat and
// host modes use the same path.
//
// One event-loop thread serves every listener, connection and flow
// (epoll, edge-triggered). That thread enters the VM namespace once, at start,
// so each guest-side socket() is a plain system call there; listeners are
// bound by the caller, in the caller's namespace, before they are handed over.
// TCP bytes move with splice(2) through one pipe per direction (no copy to
// user space); a half-close on either side is passed on with shutdown(SHUT_WR)
// once the bytes before it are delivered. A UDP flow is one connected socket
// per client address toward the guest, closed after `udp_idle` without traffic.
// Cost per TCP connection: 6 fds (two sockets, two pipes), no thread.
//
// Thread-safe: Add and Remove may be called from any thread; they hand work to
// the loop and Remove waits for it. The relay must not outlive `guest_ns`.
class PortRelay {
 public:
  struct Options {
    // A guest that does not accept a connection within this is given up on.
    std::chrono::milliseconds connect_timeout{10000};
    // A UDP flow without a datagram either way for this long is closed.
    std::chrono::milliseconds udp_idle{60000};
    // UDP flows per listener at most; datagrams from further clients are
    // dropped (and logged) until a flow idles out.
    size_t max_udp_flows = 1024;
  };
  using Id = uint64_t;
  struct Stats {
    size_t listeners = 0;
    size_t tcp_connections = 0;  // open now (connecting or relaying)
    size_t udp_flows = 0;
    uint64_t tcp_accepted = 0;  // since start
    uint64_t tcp_failed = 0;    // guest refused, unreachable or timed out
  };

  // Starts the loop thread inside `guest_ns` (not entered when it is the
  // caller's own namespace, so tests and host mode need no privilege).
  static Result<std::unique_ptr<PortRelay>> Start(const NetnsHandle& guest_ns, Options options);
  // Stops the loop and closes every listener, connection and flow.
  ~PortRelay();
  PortRelay(const PortRelay&) = delete;
  PortRelay& operator=(const PortRelay&) = delete;

  // Binds spec's host address and port (in the caller's namespace) and relays
  // it to guest_ip:spec.guest_port. FailedPrecondition naming the address when
  // it is taken (EADDRINUSE) or not the host's (EADDRNOTAVAIL).
  Result<Id> Add(const PublishSpec& spec, const std::string& guest_ip);
  // Closes the listener and every connection and flow it carries; when it
  // returns, the port is free. Unknown ids are ignored.
  void Remove(Id id);
  Stats GetStats();

 private:
  struct Loop;  // everything the loop thread owns (port_relay.cc)
  struct Command {
    enum class Kind { kAdd, kRemove, kStop };
    Kind kind = Kind::kStop;
    uint64_t seq = 0;  // set by Post
    Id id = 0;
    UniqueFd listener;
    PublishSpec spec;
    std::string guest_ip;
  };

  PortRelay(Options options, UniqueFd wake);
  // Queues `command` for the loop and returns its sequence number.
  uint64_t Post(Command command);
  // Waits until the loop has carried out every command up to `seq`.
  void AwaitDone(uint64_t seq);
  void Run(std::unique_ptr<Loop> loop);

  const Options options_;
  const UniqueFd wake_;  // eventfd the loop polls for commands
  std::thread thread_;  // runs the Loop; joined by the destructor

  Mutex mu_{LockRank::kLeaf, "PortRelay"};
  CondVar done_cv_{&mu_};
  std::deque<Command> commands_ GUARDED_BY(mu_);
  Id next_id_ GUARDED_BY(mu_) = 1;
  uint64_t posted_seq_ GUARDED_BY(mu_) = 0;
  uint64_t done_seq_ GUARDED_BY(mu_) = 0;  // the loop carried out commands up to here
  bool loop_gone_ GUARDED_BY(mu_) = false;  // it ended: nobody will carry them out
  Stats stats_ GUARDED_BY(mu_);
};

}  // namespace warren

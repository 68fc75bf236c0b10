#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "session/guest_link.h"
#include "session/guest_ssh.h"

namespace warren {

// Where VM `vm`'s guest answers SSH, with the keys to use. The daemon's reads
// VmManager::SshTarget (FailedPrecondition "not running", Unavailable "still
// booting", NotFound) and adds its own client key.
using EndpointResolver = std::function<Result<GuestEndpoint>(const std::string& vm)>;

struct PoolOptions {
  // Authenticated connections kept ready per VM in use, so an exec costs a
  // channel, not a handshake. 0 = every command dials (or reuses a link that
  // just finished).
  size_t idle_per_vm = 2;
  // A VM with no new command for this long has its idle connections closed
  // and no longer refilled.
  std::chrono::milliseconds idle_ttl = std::chrono::minutes(10);
  // Handshakes in flight per VM, foreground and background together. Dropbear
  // drops new connections beyond 5 unauthenticated ones per client address
  // (MAX_UNAUTH_PER_IP), so this stays below.
  int max_dials_per_vm = 3;
  // Links beyond idle_per_vm that came back from a burst stay idle this long
  // (a steady concurrent load keeps reusing them) before they are closed.
  std::chrono::milliseconds surplus_linger = std::chrono::seconds(15);
  // A handshake under TCG with the guest busy can take seconds.
  std::chrono::milliseconds dial_timeout = std::chrono::seconds(30);
  // How long a command waits for a link to come back or a dial slot.
  std::chrono::milliseconds wait_for_link = std::chrono::seconds(60);
  LinkOptions link;  // keepalive; on_idle is the pool's own
};

// The connections to each VM's guest: ONE RUNNING COMMAND PER CONNECTION.
// A command takes an idle authenticated link (or dials one), runs alone on it,
// and the link goes back to the idle list when the guest closed the command's
// channel cleanly. Dropbear 2022.83-2024.85 aborts a whole connection when a
// channel closes while another is between open and exec (docs/SESSIONS.md);
// with one channel per connection there is no "other", and a broken link takes
// only its own command with it. A background thread keeps idle_per_vm links
// ready for VMs in use, closes the surplus and the dead.
//
// Thread-safety: thread-safe. mu_ is a leaf guarding the pools; dials, closes
// and link calls happen outside it (the filler thread and callers copy out).
class GuestLinks {
 public:
  GuestLinks(GuestDialer* dialer, EndpointResolver resolve, PoolOptions options = {});
  ~GuestLinks();  // stops the filler, closes every link
  GuestLinks(const GuestLinks&) = delete;
  GuestLinks& operator=(const GuestLinks&) = delete;

  // Starts spec on vm's guest on a connection of its own. A link found broken
  // before the command started is replaced (twice at most). Errors: the
  // resolver's; Unavailable "cannot reach the guest ..." when the dial fails
  // (FailedPrecondition for a host key mismatch or refused key); the link's.
  Result<std::shared_ptr<GuestProcess>> Start(const std::string& vm, const ExecSpec& spec)
      EXCLUDES(mu_);
  // Ends vm's links (their processes end with Unavailable naming `reason`),
  // stops refilling its pool, and makes a dial racing with this call discard
  // its result.
  void Drop(const std::string& vm, const std::string& reason) EXCLUDES(mu_);
  // Links kept for vm: idle (ready) and busy (running a command).
  size_t IdleForTest(const std::string& vm) EXCLUDES(mu_);
  size_t BusyForTest(const std::string& vm) EXCLUDES(mu_);

 private:
  using Clock = std::chrono::steady_clock;
  struct Idle {
    std::shared_ptr<GuestLink> link;
    Clock::time_point since;
  };
  struct Pool {
    std::deque<Idle> idle;  // the most recently idle at the back (taken first)
    std::vector<std::shared_ptr<GuestLink>> busy;
    uint64_t generation = 0;  // bumped by Drop
    int dialing = 0;          // handshakes in flight
    bool in_use = false;      // refilled while true (a link was made or taken;
                              // cleared by Drop, idle_ttl)
    Clock::time_point last_start;
    Clock::time_point retry_after;  // a background dial failed: wait before the next
  };
  // What Start got: a link to run on, or the permission to dial one.
  struct Slot {
    std::shared_ptr<GuestLink> link;
    uint64_t generation = 0;
  };

  Result<Slot> TakeOrReserveDial(const std::string& vm) EXCLUDES(mu_);
  Result<std::shared_ptr<GuestLink>> Dial(const std::string& vm, uint64_t generation, bool busy)
      EXCLUDES(mu_);
  // The pump's on_idle: back to idle, or retired for the filler to close.
  void OnIdle(const std::string& vm, GuestLink* link, bool reusable) EXCLUDES(mu_);
  void Retire(const std::shared_ptr<GuestLink>& link) EXCLUDES(mu_);
  void FillerLoop() EXCLUDES(mu_);
  bool RemoveLocked(Pool& pool, GuestLink* link, std::shared_ptr<GuestLink>* out) REQUIRES(mu_);

  // Immutable after construction.
  GuestDialer* const dialer_;
  const EndpointResolver resolve_;
  const PoolOptions options_;

  Mutex mu_{LockRank::kLeaf, "guest links"};
  CondVar cv_{&mu_};  // a link went idle, a dial ended, work for the filler
  std::map<std::string, Pool, std::less<>> pools_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<GuestLink>> retired_ GUARDED_BY(mu_);  // closed by the filler
  bool stopping_ GUARDED_BY(mu_) = false;

  std::thread filler_;
};

}  // namespace warren

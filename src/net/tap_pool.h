#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "net/mac.h"
#include "net/netns.h"
#include "net/tap_device.h"
#include "sys/unique_fd.h"

namespace warren {

inline constexpr std::string_view kTapPrefix = "wtap";

struct TapPoolOptions {
  std::string bridge;              // must already exist in the namespace (EnsureBridge)
  size_t target_size = 4;          // ready TAPs the refill thread keeps in stock
  std::string prefix{kTapPrefix};  // TAPs are named <prefix><N>
  // Wait after a failed refill before trying again (keeps a broken host from spinning).
  std::chrono::milliseconds retry_delay{1000};
};

// The daemon's stock of TAPs on the VM bridge: what the composition root
// needs from a TAP pool, so daemon tests can run unprivileged with a fake
// (tests/fakes/fake_tap_stock.h). TapPool is the real one; see its contract.
class TapStock {
 public:
  struct Stats {
    size_t ready = 0;
    uint64_t warm_takes = 0;
    uint64_t cold_takes = 0;
    uint64_t created = 0;  // by the refill thread
    uint64_t refill_errors = 0;
    std::string last_refill_error;
  };

  virtual ~TapStock() = default;
  virtual Status Start() = 0;
  virtual Result<Tap> Take(const MacAddress& guest_mac) = 0;
  virtual Status Release(std::string_view name) = 0;
  virtual Status SetUp(std::string_view name, bool up) = 0;
  virtual Result<std::vector<std::string>> ListTaps() = 0;
  virtual Result<std::vector<std::string>> ReapStale(const std::set<std::string>& owned_by_vms) = 0;
  virtual void Shutdown() = 0;
  virtual Stats GetStats() = 0;
};

// Keeps `target_size` TAPs ready in the VM namespace so that creating a VM does
// not wait for TAP creation. Each TAP is persistent, enslaved to the bridge, up,
// and held open; Take() hands one out (name + fd for QEMU) with its MAC set; a
// taken TAP is never returned to the pool: Release() destroys it.
//
// Threads: a refill thread, which setns()es itself into the VM namespace once
// and creates TAPs there; callers never change namespace (the cold path and
// Release use a short-lived thread, see RunInNetns).
//
// Thread-safety: Start and Shutdown belong to the owner (the daemon's composition
// root) and must not race each other; every other method may be called from any
// thread, concurrently with anything, including Shutdown. `mu_` is a leaf
// lock guarding only the in-memory stock and counters; no netlink or tun I/O and
// no logging happens under it (copy out, unlock, act).
//
// Lifecycle: Create → (daemon reaps stale TAPs) → Start → Take/Release … →
// Shutdown (also run by the destructor), which stops the refill thread and
// destroys the TAPs still in stock. Taken TAPs belong to their VMs and survive it.
class TapPool final : public TapStock {
 public:
  // `ns` is duplicated; the pool does not keep a reference to it.
  static Result<std::unique_ptr<TapPool>> Create(const NetnsHandle& ns, TapPoolOptions options);
  ~TapPool();
  TapPool(const TapPool&) = delete;
  TapPool& operator=(const TapPool&) = delete;

  // Picks names above every <prefix><N> already in the namespace (TAPs of running
  // VMs keep theirs) and starts the refill thread. FailedPrecondition if called twice.
  Status Start() override EXCLUDES(mu_);

  // A ready TAP, or, when the stock is empty, one created on the spot (slower,
  // counted in Stats::cold_takes). Its host-side MAC becomes TapMacFor(guest_mac).
  // The caller owns the TAP and must Release it when its VM is deleted.
  // FailedPrecondition after Shutdown.
  Result<Tap> Take(const MacAddress& guest_mac) override EXCLUDES(mu_);

  // Destroys a TAP taken from the pool (or found at start). Idempotent: a TAP
  // that no longer exists is fine, so delete steps can be re-run after a crash.
  Status Release(std::string_view name) override EXCLUDES(mu_);

  // Sets a taken TAP's host side down or up (TapSource::SetUp says why).
  Status SetUp(std::string_view name, bool up) override EXCLUDES(mu_);

  // TAPs named <prefix><N> in the namespace, whoever made them.
  Result<std::vector<std::string>> ListTaps() override EXCLUDES(mu_);
  // Destroys one TAP. NotFound if absent.
  Status Destroy(std::string_view name) EXCLUDES(mu_);
  // At daemon start, before Start(): destroys every <prefix><N> TAP not in
  // `owned_by_vms` (leftovers of a previous run: its pool stock, or VMs that are
  // gone). Returns the names destroyed, for the log / doctor.
  Result<std::vector<std::string>> ReapStale(const std::set<std::string>& owned_by_vms) override
      EXCLUDES(mu_);

  void Shutdown() override EXCLUDES(mu_);

  Stats GetStats() override EXCLUDES(mu_);

  // Waits until the stock reaches target_size; false on timeout. Tests and bench only.
  bool WaitForFillForTest(std::chrono::milliseconds timeout) EXCLUDES(mu_);

 private:
  TapPool(UniqueFd netns_fd, TapPoolOptions options);
  void RefillLoop() EXCLUDES(mu_);
  std::string NextNameLocked() REQUIRES(mu_);
  // Waits on `cv` (bound to mu_), for at most `timeout` if given.
  // Creates `name` from the calling (non-namespaced) thread via RunInNetns.
  Result<Tap> CreateCold(const std::string& name);

  // Immutable after construction.
  const UniqueFd netns_fd_;
  const TapPoolOptions options_;

  Mutex mu_{LockRank::kLeaf, "tap_pool"};
  CondVar refill_cv_{&mu_};  // wakes the refill thread: stock below target, or stopping
  CondVar filled_cv_{&mu_};  // signalled when a TAP joins the stock
  std::deque<Tap> ready_ GUARDED_BY(mu_);
  uint64_t next_index_ GUARDED_BY(mu_) = 0;
  bool started_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  Stats stats_ GUARDED_BY(mu_);

  // Started by Start, joined by Shutdown: touched only by the owner thread.
  std::thread refill_;
};

}  // namespace warren

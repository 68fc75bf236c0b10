#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "base/thread_annotations.h"

namespace warren {

// The seed's lock order, as ranks. A thread may only acquire a lock whose rank
// is strictly greater than every lock it already holds:
//
//   per-VM lock (kVm) → {createVMMu, imageOpsMu} (kRegistry) → leaf locks (kLeaf)
//
// So two leaves are never held together, and nothing is taken "upwards".
// Violations abort with both lock names (checked at runtime in every build;
// the cost is a thread-local array scan of at most a few entries). Clang's
// -Wthread-safety checks GUARDED_BY/REQUIRES statically on top of this.
enum class LockRank : int {
  kVm = 10,
  kRegistry = 20,
  kLeaf = 30,
};

// A std::mutex carrying clang capability attributes and a rank.
// Thread-safe by definition; not recursive.
class CAPABILITY("mutex") Mutex {
 public:
  explicit Mutex(LockRank rank = LockRank::kLeaf, const char* name = "leaf")
      : rank_(rank), name_(name) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE();
  void Unlock() RELEASE();
  // Aborts unless the calling thread holds a lock of this rank and name.
  void AssertHeld() const ASSERT_CAPABILITY(this);

  LockRank rank() const { return rank_; }
  const char* name() const { return name_; }

 private:
  friend class CondVar;
  std::mutex mu_;
  const LockRank rank_;
  const char* const name_;
};

// RAII holder, the only way most code takes a Mutex.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// Condition variable bound to one Mutex for its lifetime. Wait/WaitFor take
// that mutex as an argument, as Abseil's CondVar does, so clang's analysis sees
// the caller hold it (REQUIRES) and no NO_THREAD_SAFETY_ANALYSIS escape is
// needed; passing another mutex than the bound one aborts.
class CondVar {
 public:
  explicit CondVar(Mutex* mu) : mu_(mu) {}
  // Atomically releases `mu` and waits; `mu` is held again on return.
  void Wait(Mutex* mu) REQUIRES(mu);
  // Returns false on timeout.
  bool WaitFor(Mutex* mu, std::chrono::milliseconds timeout) REQUIRES(mu);
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  Mutex* const mu_;
  std::condition_variable cv_;
};

}  // namespace warren

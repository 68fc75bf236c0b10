#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace warren {

// How a client's call waits for a VM's lock.
struct LockWait {
  // Fires ($/cancel, client gone, shutdown): the wait ends and the call returns
  // Cancelled having changed nothing.
  std::stop_token stop;
  // Told who holds the lock ("vm.start", "vm.create", ...) when the wait begins
  // and whenever that changes; called with no lock held (it may send to a client).
  std::function<void(const std::string& holder)> waiting;
};

// A VM's lock: the outermost lock of the seed's order (rank kVm), which every
// VM-scoped operation holds and under which guest I/O is allowed. Unlike a bare
// Mutex it remembers who holds it, and a wait for it can be given up: a
// `vm stop` behind a slow `vm start` says what it waits for and can be
// cancelled.
//
// Built from a leaf lock + condition (the ownership) and a ranked kVm Mutex
// taken once owned, so the runtime order check still sees a VM lock held (and
// aborts if one is taken under a registry or leaf lock). The leaf is never held
// while waiting for anything but the condition, or while calling `waiting`.
//
// Thread-safety: thread-safe. Unlock must run on the thread that locked.
//
// The bodies of Lock/LockOrCancel/Unlock are not analysed: ownership passes
// between state_mu_'s flag and order_, which clang cannot follow; the
// annotations below state the contract callers are checked against.
class CAPABILITY("mutex") VmLock {
 public:
  // Blocks until held (daemon-internal callers that cannot give up: create, recover).
  void Lock(std::string holder) ACQUIRE() NO_THREAD_SAFETY_ANALYSIS;
  // Blocks until held (true) or until `wait.stop` fires first (false, nothing held).
  bool LockOrCancel(std::string holder, const LockWait& wait) TRY_ACQUIRE(true)
      NO_THREAD_SAFETY_ANALYSIS;
  void Unlock() RELEASE() NO_THREAD_SAFETY_ANALYSIS;
  // Who holds it now ("" when free): a snapshot, for messages.
  std::string holder() const EXCLUDES(state_mu_);

 private:
  mutable Mutex state_mu_{LockRank::kLeaf, "vm_lock_state"};
  CondVar released_{&state_mu_};
  bool held_ GUARDED_BY(state_mu_) = false;
  std::string holder_ GUARDED_BY(state_mu_);
  Mutex order_{LockRank::kVm, "vm"};  // held exactly while the VM lock is owned
};

// Holds a VmLock already taken (by LockOrCancel) until the end of the scope.
class SCOPED_CAPABILITY VmLockHold {
 public:
  explicit VmLockHold(VmLock* lock) REQUIRES(lock) : lock_(lock) {}
  ~VmLockHold() RELEASE() { lock_->Unlock(); }
  VmLockHold(const VmLockHold&) = delete;
  VmLockHold& operator=(const VmLockHold&) = delete;

 private:
  VmLock* const lock_;
};

// One VmLock per VM id.
//
// Thread-safety: thread-safe. `mu_` is a leaf lock guarding only the map; it is
// released before a VM lock is taken. Entries live as long as the set: a
// handful of bytes per VM ever seen by this daemon run.
class VmLockSet {
 public:
  // The lock for `id`, created on first use. Never null; stable for the set's life.
  std::shared_ptr<VmLock> For(std::string_view id) EXCLUDES(mu_);

 private:
  Mutex mu_{LockRank::kLeaf, "vm_lock_set"};
  std::map<std::string, std::shared_ptr<VmLock>, std::less<>> locks_ GUARDED_BY(mu_);
};

}  // namespace warren

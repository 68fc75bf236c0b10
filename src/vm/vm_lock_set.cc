#include "vm/vm_lock_set.h"

#include <chrono>
#include <optional>

namespace warren {
namespace {

// How often a waiter looks at its stop token. CondVar cannot wait on a
// stop_token, and a stop_callback that signals would run on the canceller's
// thread, which may hold a leaf lock (taking state_mu_ there would break the
// order); a short poll costs nothing while the lock is free.
constexpr std::chrono::milliseconds kStopPoll{50};

}  // namespace

// (The analysis is off in these three, see the header.)
bool VmLock::LockOrCancel(std::string holder, const LockWait& wait) {
  std::optional<std::string> told;  // the holder `waiting` last heard of
  for (;;) {
    std::string current;
    {
      MutexLock lock(&state_mu_);
      while (held_ && !wait.stop.stop_requested() && told && holder_ == *told) {
        released_.WaitFor(&state_mu_, kStopPoll);
      }
      if (!held_) {
        held_ = true;
        holder_ = std::move(holder);
        break;
      }
      if (wait.stop.stop_requested()) return false;
      current = holder_;
    }
    told = current;
    if (wait.waiting) wait.waiting(current);
  }
  // Uncontended (only the owner takes it); after state_mu_ is released, as the
  // order wants: this is where a VM lock taken under another lock aborts.
  order_.Lock();
  return true;
}

void VmLock::Lock(std::string holder) {
  (void)LockOrCancel(std::move(holder), LockWait{});  // a default stop_token never fires
}

void VmLock::Unlock() {
  order_.Unlock();
  MutexLock lock(&state_mu_);
  held_ = false;
  holder_.clear();
  released_.SignalAll();
}

std::string VmLock::holder() const {
  MutexLock lock(&state_mu_);
  return holder_;
}

std::shared_ptr<VmLock> VmLockSet::For(std::string_view id) {
  MutexLock lock(&mu_);
  auto it = locks_.find(id);
  if (it != locks_.end()) return it->second;
  auto vm_lock = std::make_shared<VmLock>();
  locks_.emplace(std::string(id), vm_lock);
  return vm_lock;
}

}  // namespace warren

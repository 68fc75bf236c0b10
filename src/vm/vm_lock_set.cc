#include "vm/vm_lock_set.h"

namespace warren {

std::shared_ptr<Mutex> VmLockSet::For(std::string_view id) {
  MutexLock lock(&mu_);
  auto it = locks_.find(id);
  if (it != locks_.end())
    return it->second;
  auto mu = std::make_shared<Mutex>(LockRank::kVm, "vm");
  locks_.emplace(std::string(id), mu);
  return mu;
}

} // namespace warren

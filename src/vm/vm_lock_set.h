#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace warren {

// One Mutex (rank kVm, the outermost lock of the seed's order) per VM id: every
// VM-scoped operation runs under its VM's lock, and guest I/O is allowed there.
//
// Thread-safety: thread-safe. `mu_` is a leaf lock guarding only the map; it is
// released before the VM lock is taken (a leaf is never held while acquiring a
// kVm lock). Entries live as long as the set: a handful of bytes per VM ever
// seen by this daemon run.
class VmLockSet {
public:
  // The lock for `id`, created on first use. Never null; stable for the set's
  // life.
  std::shared_ptr<Mutex> For(std::string_view id) EXCLUDES(mu_);

private:
  Mutex mu_{LockRank::kLeaf, "vm_lock_set"};
  std::map<std::string, std::shared_ptr<Mutex>, std::less<>>
      locks_ GUARDED_BY(mu_);
};

} // namespace warren

#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace warren {

// What the budget holds now (daemon.status's `memory`).
struct MemoryUsage {
  uint64_t budget_bytes = 0;    // kUnlimited when no budget applies
  uint64_t used_bytes = 0;      // sum over held VMs of guest memory + overhead
  uint64_t overhead_bytes = 0;  // the per-VM overhead counted on top of --memory
  size_t vms = 0;               // VMs holding a share
  uint64_t headroom_bytes() const { return used_bytes >= budget_bytes ? 0 : budget_bytes - used_bytes; }
};

// Admission control for VM memory: the daemon's VMs may together use at most
// `budget_bytes`, each counted as its guest memory plus `overhead_bytes` (what
// QEMU itself costs beyond guest RAM). A VM holds its share from the moment a
// create or start is admitted until it is stopped, fails, exits or is deleted.
//
// Admit is check-and-reserve in one step under one leaf lock, so concurrent
// creates never together overshoot; holding a share is idempotent per VM id
// (a VM is counted once however often it is admitted).
//
// Thread-safety: thread-safe; mu_ is a leaf lock (no I/O, no calls out).
class MemoryBudget {
 public:
  static constexpr uint64_t kUnlimited = UINT64_MAX;

  MemoryBudget(uint64_t budget_bytes, uint64_t overhead_bytes)
      : budget_bytes_(budget_bytes), overhead_bytes_(overhead_bytes) {}

  // Reserves guest memory + overhead for VM `id`, or ResourceExhausted saying
  // the numbers and the fix ("vm create web: needs 512 MiB + 64 MiB overhead,
  // 310 MiB of the 20.0 GiB budget left (31 VMs hold 19.7 GiB); ..."). `what`
  // names the request ("vm create web"). OK without change when `id` holds a share.
  Status Admit(const std::string& id, std::string_view what, uint64_t memory_mib) EXCLUDES(mu_);
  // Counts a VM that already runs (adopted at daemon start), even beyond the budget.
  void Hold(const std::string& id, uint64_t memory_mib) EXCLUDES(mu_);
  // Gives the VM's share back; no-op when it holds none.
  void Release(const std::string& id) EXCLUDES(mu_);
  bool Holds(const std::string& id) const EXCLUDES(mu_);

  MemoryUsage Usage() const EXCLUDES(mu_);

 private:
  // Immutable after construction.
  const uint64_t budget_bytes_;
  const uint64_t overhead_bytes_;

  mutable Mutex mu_{LockRank::kLeaf, "memory_budget"};
  std::map<std::string, uint64_t, std::less<>> held_ GUARDED_BY(mu_);  // id → bytes
  uint64_t used_ GUARDED_BY(mu_) = 0;
};

// "512 MiB", "19.7 GiB", "310 MiB", "12 KiB": what the budget's messages print.
std::string FormatBytes(uint64_t bytes);

}  // namespace warren

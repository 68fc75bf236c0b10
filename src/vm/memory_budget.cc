#include "vm/memory_budget.h"

#include <cstdio>

namespace warren {

std::string FormatBytes(uint64_t bytes) {
  constexpr uint64_t kKiB = 1024, kMiB = kKiB << 10, kGiB = kMiB << 10;
  char buf[32];
  if (bytes >= kGiB) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / kGiB);
  } else if (bytes >= kMiB) {
    std::snprintf(buf, sizeof buf, "%llu MiB", static_cast<unsigned long long>(bytes / kMiB));
  } else {
    std::snprintf(buf, sizeof buf, "%llu KiB", static_cast<unsigned long long>(bytes / kKiB));
  }
  return buf;
}

Status MemoryBudget::Admit(const std::string& id, std::string_view what, uint64_t memory_mib) {
  const uint64_t need = (memory_mib << 20) + overhead_bytes_;
  MutexLock lock(&mu_);
  if (held_.contains(id)) return Status::Ok();
  const uint64_t left = used_ >= budget_bytes_ ? 0 : budget_bytes_ - used_;
  if (budget_bytes_ != kUnlimited && need > left) {
    return ResourceExhausted(
        std::string(what) + ": needs " + FormatBytes(memory_mib << 20) + " + " +
        FormatBytes(overhead_bytes_) + " overhead, " + FormatBytes(left) + " of the " +
        FormatBytes(budget_bytes_) + " memory budget left (" + std::to_string(held_.size()) +
        (held_.size() == 1 ? " VM holds " : " VMs hold ") + FormatBytes(used_) +
        "); stop a VM, lower --memory, or raise [vm] memory_budget");
  }
  held_.emplace(id, need);
  used_ += need;
  return Status::Ok();
}

void MemoryBudget::Hold(const std::string& id, uint64_t memory_mib) {
  const uint64_t need = (memory_mib << 20) + overhead_bytes_;
  MutexLock lock(&mu_);
  if (held_.emplace(id, need).second) used_ += need;
}

void MemoryBudget::Release(const std::string& id) {
  MutexLock lock(&mu_);
  auto it = held_.find(id);
  if (it == held_.end()) return;
  used_ -= it->second;
  held_.erase(it);
}

bool MemoryBudget::Holds(const std::string& id) const {
  MutexLock lock(&mu_);
  return held_.contains(id);
}

MemoryUsage MemoryBudget::Usage() const {
  MutexLock lock(&mu_);
  return MemoryUsage{budget_bytes_, used_, overhead_bytes_, held_.size()};
}

}  // namespace warren

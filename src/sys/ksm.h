#pragma once

#include <cstdint>
#include <filesystem>

#include "base/status.h"

namespace warren {

// The kernel's same-page merging (KSM, /sys/kernel/mm/ksm). QEMU marks guest
// RAM mergeable by default (mem-merge), so with ksmd running, idle guests of
// one image share their identical pages. Turning it on is host-wide: warren
// does it only when `[vm] ksm = true` asks (docs/BENCHMARKS.md, density).
struct KsmState {
  bool available = false;  // the directory could be read
  int run = 0;             // 0 off, 1 merging, 2 unmerging
  uint64_t pages_shared = 0;   // distinct pages kept
  uint64_t pages_sharing = 0;  // pages mapped onto them (the saving)
  // Bytes that merging saves now: (sharing - shared) pages.
  uint64_t saved_bytes() const;
};

// What `dir` (the real one: /sys/kernel/mm/ksm) says.
KsmState ReadKsm(const std::filesystem::path& dir);

// Sets run = 1 unless it already is; the error names the fix when it cannot
// (not root, or a sysfs mounted read-only as in many containers).
Status EnableKsm(const std::filesystem::path& dir);

}  // namespace warren

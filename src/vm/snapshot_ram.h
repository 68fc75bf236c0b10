#pragma once

#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <string>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "sys/unique_fd.h"

namespace warren {

// A file's contents in a new memfd sealed against every change (F_SEAL_WRITE,
// GROW, SHRINK, SEAL); the file's holes stay holes (SEEK_DATA/SEEK_HOLE), so
// a sparse snapshot RAM file costs only the pages its guest had in use.
//
// Why a sealed memfd and not the file itself: QEMU 7.2 opens a
// memory-backend-file read-write even to map it private, and keeps that
// descriptor. A clone's QEMU holding the snapshot's file open for writing
// could change pages every other clone (and every later one) still reads.
// A sealed memfd reopened through /proc/self/fd is writable in name only:
// the kernel refuses writes and shared writable mappings, while a private
// (copy-on-write) mapping, which is all a clone needs, is allowed.
Result<UniqueFd> SealedCopy(const std::filesystem::path& file);

// The sealed memfds of snapshots' RAM files, made on first use and kept while
// the snapshot exists, so every clone of one snapshot maps the same pages.
// Thread-safe. mu_ is a leaf lock that guards the map only: the first Get of
// a file reads it with no lock held, and Gets of the same file meanwhile
// wait for that read (its future) instead of reading it again.
class SnapshotRamCache {
 public:
  using Fd = std::shared_ptr<const UniqueFd>;
  // The memfd for `ram_file`; the descriptor stays open while the returned
  // pointer lives (even after Drop). A failed read is not kept: the next Get
  // tries again.
  Result<Fd> Get(const std::filesystem::path& ram_file) EXCLUDES(mu_);
  // Forgets `ram_file`'s memfd (its snapshot is deleted); QEMUs that map it
  // keep their pages.
  void Drop(const std::filesystem::path& ram_file) EXCLUDES(mu_);

 private:
  Mutex mu_{LockRank::kLeaf, "snapshot_ram"};
  std::map<std::string, std::shared_future<Result<Fd>>, std::less<>> fds_ GUARDED_BY(mu_);
};

}  // namespace warren

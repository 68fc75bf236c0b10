#include "vm/snapshot_ram.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

namespace warren {

Result<UniqueFd> SealedCopy(const std::filesystem::path& file) {
  UniqueFd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return ErrnoError("open " + file.string(), errno);
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return ErrnoError("stat " + file.string(), errno);
  UniqueFd out(::memfd_create("warren-snapshot-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!out.valid()) return ErrnoError("memfd_create for " + file.string(), errno);
  if (::ftruncate(out.get(), st.st_size) != 0) {
    return ErrnoError("size a memfd for " + file.string(), errno);
  }
  off_t data = 0;
  while (data < st.st_size) {
    data = ::lseek(in.get(), data, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      return ErrnoError("seek data in " + file.string(), errno);
    }
    off_t hole = ::lseek(in.get(), data, SEEK_HOLE);
    if (hole < 0) return ErrnoError("seek hole in " + file.string(), errno);
    if (::lseek(out.get(), data, SEEK_SET) != data) {
      return ErrnoError("seek in a memfd for " + file.string(), errno);
    }
    off_t at = data;
    while (at < hole) {
      ssize_t n = ::sendfile(out.get(), in.get(), &at, static_cast<size_t>(hole - at));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError("read " + file.string() + " into a memfd", errno);
      if (n == 0) return Internal(file.string() + " shrank while it was read");
    }
    data = hole;
  }
  // Its pages now live in the memfd; the file's copies in the page cache would
  // only double them.
  (void)::posix_fadvise(in.get(), 0, 0, POSIX_FADV_DONTNEED);
  if (::fcntl(out.get(), F_ADD_SEALS,
              F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    return ErrnoError("seal the memfd of " + file.string(), errno);
  }
  return out;
}

Result<SnapshotRamCache::Fd> SnapshotRamCache::Get(const std::filesystem::path& ram_file) {
  const std::string key = ram_file.string();
  std::promise<Result<Fd>> reading;
  std::shared_future<Result<Fd>> ready;
  {
    MutexLock lock(&mu_);
    auto it = fds_.find(key);
    if (it != fds_.end()) {
      ready = it->second;
    } else {
      fds_.emplace(key, reading.get_future().share());
    }
  }
  if (ready.valid()) return ready.get();  // another Get's read, done or not
  Result<UniqueFd> copy = SealedCopy(ram_file);
  Result<Fd> made = copy.ok() ? Result<Fd>(std::make_shared<const UniqueFd>(std::move(*copy)))
                              : Result<Fd>(copy.error());
  if (!made.ok()) {
    MutexLock lock(&mu_);
    fds_.erase(key);
  }
  reading.set_value(made);
  return made;
}

void SnapshotRamCache::Drop(const std::filesystem::path& ram_file) {
  std::shared_future<Result<Fd>> dropped;  // its memfd is closed outside the lock
  MutexLock lock(&mu_);
  auto it = fds_.find(ram_file.string());
  if (it == fds_.end()) return;
  dropped = std::move(it->second);
  fds_.erase(it);
}

}  // namespace warren

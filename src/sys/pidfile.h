#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "base/status.h"
#include "sys/unique_fd.h"

namespace warren {

// The daemon's single-instance guard: a pid file holding an flock(2) for the
// daemon's lifetime. The kernel drops the lock when the process dies, so a
// file left by a crashed daemon is recognised as stale and taken over.
// Move-only; not thread-safe (owned by the daemon's main thread).
class PidFile {
 public:
  // Opens or creates `path`, takes flock(LOCK_EX|LOCK_NB) and writes our pid.
  // If another process holds the lock: FailedPrecondition("another warren daemon (pid N) is
  // running on root R; stop it first or use another --root"), where R is `root_name` (default:
  // the pid file's directory). Other failures: Internal naming the path.
  static Result<PidFile> Acquire(const std::filesystem::path& path,
                                 std::string_view root_name = {});

  PidFile(PidFile&& other) noexcept = default;
  PidFile& operator=(PidFile&& other) noexcept;
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  ~PidFile() { Release(); }

  // Unlinks the file, then closes it (dropping the lock). Idempotent.
  void Release();

  const std::filesystem::path& path() const { return path_; }

 private:
  PidFile(std::filesystem::path path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::filesystem::path path_;
  UniqueFd fd_;
};

// Reads the pid written in a pid file; 0 when missing or unparsable. For messages and `doctor`.
pid_t ReadPidFile(const std::filesystem::path& path);

}  // namespace warren

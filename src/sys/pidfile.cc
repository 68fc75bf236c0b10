#include "sys/pidfile.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

namespace warren {
namespace {

// Another daemon may unlink the file between our open() and flock(); then we
// would hold a lock on an orphaned inode. Retrying a few times settles it.
constexpr int kMaxAttempts = 5;

bool SameFile(int fd, const std::filesystem::path& path) {
  struct stat by_fd, by_path;
  if (::fstat(fd, &by_fd) != 0 || ::stat(path.c_str(), &by_path) != 0) return false;
  return by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

Status WritePid(int fd, const std::filesystem::path& path) {
  std::string text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0) return ErrnoError("truncate pid file " + path.string(), errno);
  if (::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return ErrnoError("write pid file " + path.string(), errno);
  }
  return Status::Ok();
}

}  // namespace

pid_t ReadPidFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  return static_cast<pid_t>(pid);
}

Result<PidFile> PidFile::Acquire(const std::filesystem::path& path, std::string_view root_name) {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoError("open pid file " + path.string(), errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return ErrnoError("lock pid file " + path.string(), errno);
      std::string root = root_name.empty() ? path.parent_path().string() : std::string(root_name);
      pid_t holder = ReadPidFile(path);
      std::string who = holder > 0 ? "pid " + std::to_string(holder) : "pid unknown";
      return FailedPrecondition("another warren daemon (" + who + ") is running on root " + root +
                                "; stop it first or use another --root");
    }
    if (!SameFile(fd.get(), path)) continue;  // lost a race with Release(); try again
    // The lock was free: any pid in the file belongs to a daemon that died.
    RETURN_IF_ERROR(WritePid(fd.get(), path));
    return PidFile(path, std::move(fd));
  }
  return Unavailable("pid file " + path.string() +
                     " keeps being replaced; is a daemon restarting?");
}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  if (this != &other) {
    Release();
    path_ = std::move(other.path_);
    fd_ = std::move(other.fd_);
  }
  return *this;
}

void PidFile::Release() {
  if (!fd_.valid()) return;
  // Unlink while still holding the lock so a newcomer never sees our pid in an unlocked file.
  ::unlink(path_.c_str());
  fd_.Reset();
}

}  // namespace warren

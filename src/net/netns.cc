#include "net/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace warren {
namespace {

std::string PathOf(std::string_view dir, std::string_view name) {
  return std::string(dir) + "/" + std::string(name);
}

Status CheckName(std::string_view name) {
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..") {
    return InvalidArgument("network namespace name \"" + std::string(name) +
                           "\" is invalid: use a plain name such as \"warren-vms\"");
  }
  return Status::Ok();
}

// Makes `dir` a shared mount point, as `ip netns add` does: bind mounts made under
// it then propagate to (and are unmounted from) every mount namespace that
// shares it, so deleting the name really frees the namespace.
Status MakeSharedMountDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("create " + dir, errno);
  }
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) == 0) return Status::Ok();
  if (errno != EINVAL) return ErrnoError("make " + dir + " a shared mount", errno);
  // Not a mount point yet: bind it onto itself first.
  if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
    return ErrnoError("bind-mount " + dir + " onto itself", errno);
  }
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    return ErrnoError("make " + dir + " a shared mount", errno);
  }
  return Status::Ok();
}

bool IsNsfs(int fd) {
  struct statfs fs {};
  return ::fstatfs(fd, &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

// Body of the creating thread: a fresh namespace for this thread alone, pinned by
// a bind mount. The thread ends right after, so no daemon thread ever lives in it.
Status UnshareAndPin(const std::string& path) {
  if (::unshare(CLONE_NEWNET) != 0) return ErrnoError("unshare(CLONE_NEWNET)", errno);
  // /proc/self would name the thread group leader's namespace, not this thread's.
  if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
    return ErrnoError("bind-mount the new namespace on " + path, errno);
  }
  return Status::Ok();
}

}  // namespace

Result<NetnsHandle> NetnsHandle::Create(std::string_view dir, std::string_view name) {
  RETURN_IF_ERROR(CheckName(name));
  RETURN_IF_ERROR(MakeSharedMountDir(std::string(dir)));
  const std::string path = PathOf(dir, name);
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EEXIST) {
      return AlreadyExists("network namespace " + path + " already exists");
    }
    return ErrnoError("create " + path, errno);
  }
  ::close(fd);

  Status pinned;
  std::thread creator([&] { pinned = UnshareAndPin(path); });
  creator.join();
  if (!pinned.ok()) {
    ::unlink(path.c_str());
    return pinned;
  }
  spdlog::info("created network namespace {}", path);
  return Open(dir, name);
}

Result<NetnsHandle> NetnsHandle::Open(std::string_view dir, std::string_view name) {
  RETURN_IF_ERROR(CheckName(name));
  const std::string path = PathOf(dir, name);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return NotFound("network namespace " + path + " does not exist");
    return ErrnoError("open " + path, errno);
  }
  if (!IsNsfs(fd.get())) {
    return FailedPrecondition(path + " is not a network namespace mount (stale file; delete it)");
  }
  return NetnsHandle(std::move(fd), std::string(name));
}

Result<NetnsHandle> NetnsHandle::OpenOrCreate(std::string_view dir, std::string_view name) {
  Result<NetnsHandle> opened = Open(dir, name);
  if (opened.ok()) {
    spdlog::info("adopted existing network namespace {}", PathOf(dir, name));
    return opened;
  }
  if (opened.error().code() == Code::kFailedPrecondition) {
    spdlog::warn("{}; replacing it", opened.error().message());
    const std::string path = PathOf(dir, name);
    ::umount2(path.c_str(), MNT_DETACH);
    if (::unlink(path.c_str()) != 0) return ErrnoError("remove stale " + path, errno);
  } else if (opened.error().code() != Code::kNotFound) {
    return opened.error();
  }
  return Create(dir, name);
}

Result<NetnsHandle> NetnsHandle::Current() {
  UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open /proc/thread-self/ns/net", errno);
  return NetnsHandle(std::move(fd), "");
}

Status NetnsHandle::Delete(std::string_view dir, std::string_view name) {
  RETURN_IF_ERROR(CheckName(name));
  const std::string path = PathOf(dir, name);
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
    if (errno == ENOENT) return NotFound("network namespace " + path + " does not exist");
    return ErrnoError("unmount " + path, errno);
  }
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return NotFound("network namespace " + path + " does not exist");
    return ErrnoError("remove " + path, errno);
  }
  spdlog::info("deleted network namespace {}", path);
  return Status::Ok();
}

std::string NetnsHandle::Describe() const {
  return name_.empty() ? "the daemon's network namespace" : "network namespace \"" + name_ + "\"";
}

Result<UniqueFd> OpenSocketIn(const NetnsHandle& ns, int domain, int type, int protocol) {
  return RunInNetns(ns.fd(), [&]() -> Result<UniqueFd> {
    int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) return ErrnoError("socket in " + ns.Describe(), errno);
    return UniqueFd(fd);
  });
}

}  // namespace warren

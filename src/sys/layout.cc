#include "sys/layout.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>

namespace warren {
namespace {

namespace fs = std::filesystem;

// mkdir -p with `mode` for the directories it creates; existing ones are left alone.
Status MakeDirs(const fs::path& dir, mode_t mode) {
  if (dir.empty()) return Status::Ok();
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    return FailedPrecondition(dir.string() + " exists but is not a directory");
  }
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    RETURN_IF_ERROR(MakeDirs(dir.parent_path(), 0755));
  }
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoError("create directory " + dir.string(), errno);
  }
  // mkdir honours the umask; the modes here are the contract, so apply them.
  if (::chmod(dir.c_str(), mode) != 0) return ErrnoError("chmod " + dir.string(), errno);
  return Status::Ok();
}

}  // namespace

Layout Layout::ForRoot(const fs::path& root_in) {
  Layout l;
  l.root = fs::absolute(root_in).lexically_normal();
  if (l.root.has_filename() == false && l.root != l.root.root_path()) {
    l.root = l.root.parent_path();  // drop a trailing separator
  }
  l.config_file = l.root / "config.toml";
  l.state_dir = l.root / "state";
  l.db_file = l.state_dir / "warren.db";
  l.run_dir = l.root / "run";
  l.socket = l.run_dir / "warren.sock";
  l.pid_file = l.run_dir / "warren.pid";
  l.log_dir = l.root / "log";
  l.log_file = l.log_dir / "warrend.log";
  l.images_dir = l.root / "images";
  l.vms_dir = l.root / "vms";
  l.cache_dir = l.root / "cache";
  return l;
}

Layout Layout::System() {
  Layout l;
  l.config_file = "/etc/warren/config.toml";
  l.state_dir = "/var/lib/warren";
  l.db_file = l.state_dir / "warren.db";
  l.images_dir = l.state_dir / "images";
  l.vms_dir = l.state_dir / "vms";
  l.cache_dir = l.state_dir / "cache";
  l.run_dir = "/run/warren";
  l.socket = l.run_dir / "warren.sock";
  l.pid_file = l.run_dir / "warren.pid";
  l.log_dir = "/var/log/warren";
  l.log_file = l.log_dir / "warrend.log";
  return l;
}

Layout Layout::Resolve(const std::string& root_flag) {
  if (!root_flag.empty()) return ForRoot(root_flag);
  const char* env = std::getenv("WARREN_ROOT");
  if (env != nullptr && *env != '\0') return ForRoot(env);
  return System();
}

std::string Layout::Describe() const {
  return root.empty() ? std::string("the system layout") : root.string();
}

Status Layout::Ensure() const {
  constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;
  if (socket.string().size() > kMaxSocketPath) {
    return InvalidArgument("socket path " + socket.string() + " is longer than " +
                           std::to_string(kMaxSocketPath) +
                           " bytes, the unix socket limit; use a shorter --root");
  }
  RETURN_IF_ERROR(MakeDirs(root, 0755));
  // The state directory holds the database: private, even if it already existed.
  RETURN_IF_ERROR(MakeDirs(state_dir, 0700));
  if (::chmod(state_dir.c_str(), 0700) != 0) {
    return ErrnoError("chmod 0700 " + state_dir.string(), errno);
  }
  for (const fs::path* dir : {&run_dir, &log_dir, &images_dir, &vms_dir, &cache_dir}) {
    RETURN_IF_ERROR(MakeDirs(*dir, 0755));
  }
  return Status::Ok();
}

}  // namespace warren

#include "caps/virtiofsd.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "sys/files.h"
#include "sys/spawn_attr.h"
#include "sys/unique_fd.h"
#include "vm/console_log.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kPoll = std::chrono::milliseconds(20);
constexpr auto kTermWait = std::chrono::seconds(3);
constexpr auto kKillWait = std::chrono::seconds(5);

// The mount namespace step of a read-only share. "$1" is the folder; the rest
// is virtiofsd's argv. `mount --bind -o ro` binds, then remounts the bind
// read-only (util-linux does both).
constexpr std::string_view kReadOnlyScript =
    "mount --bind -o ro -- \"$1\" \"$1\" && shift && exec \"$@\"";

std::string SocketArg(const VirtiofsdSpec& spec) { return "--socket-path=" + spec.socket.string(); }

std::string Who(const VirtiofsdSpec& spec) {
  return "share " + spec.tag + " (" + spec.source.string() + ")";
}

// True when `pid` runs with our socket in its argv: virtiofsd, or the
// unshare/sh steps that exec it (they carry its argv).
bool ServesSocket(pid_t pid, const VirtiofsdSpec& spec) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string arg;
  while (in && std::getline(in, arg, '\0')) {
    if (arg == SocketArg(spec)) return true;
  }
  return false;
}

// Waits until the process behind `pidfd` has ended (reaping it if it is our
// child); false on timeout.
bool WaitGone(int pidfd, pid_t pid, std::chrono::milliseconds timeout) {
  pollfd p{pidfd, POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (rc <= 0) return false;
  (void)::waitpid(pid, nullptr, WNOHANG);  // ECHILD when a former daemon started it
  return true;
}

}  // namespace

std::vector<std::string> VirtiofsdArgv(const fs::path& binary, const VirtiofsdSpec& spec) {
  std::vector<std::string> a;
  if (spec.ro) {
    a = {"/usr/bin/unshare", "--mount", "--propagation", "private", "--",
         "/bin/sh", "-c", std::string(kReadOnlyScript), "warren-share-ro", spec.source.string()};
  }
  a.push_back(binary.string());
  a.push_back(SocketArg(spec));
  if (!spec.socket_group.empty()) a.push_back("--socket-group=" + spec.socket_group);
  // source= is one -o value: a comma in the path would split it.
  a.insert(a.end(), {"-o", "source=" + spec.source.string(), "-o", "cache=auto"});
  return a;
}

Status VirtiofsdServers::Start(const VirtiofsdSpec& spec) {
  if (spec.source.string().find(',') != std::string::npos) {
    return FailedPrecondition(Who(spec) + ": virtiofsd cannot serve a folder whose path has a ','");
  }
  Stop(spec);
  UniqueFd log(::open(spec.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log.valid()) return ErrnoError("open virtiofsd log " + spec.log.string(), errno);
  std::vector<std::string> argv = VirtiofsdArgv(binary_, spec);
  ASSIGN_OR_RETURN(pid_t pid, SpawnLogged(argv[0], argv, log.get()));
  if (Status st = WriteFileAtomically(spec.pid_file, std::to_string(pid) + "\n"); !st.ok()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return st;
  }
  spdlog::info("{}: started virtiofsd pid {}{}", Who(spec), pid, spec.ro ? " (read-only)" : "");

  const auto deadline = SteadyClock::now() + listen_timeout_;
  std::error_code ec;
  while (!fs::exists(spec.socket, ec)) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      std::error_code ignored;
      fs::remove(spec.pid_file, ignored);
      return FailedPrecondition(Who(spec) + ": virtiofsd exited during start-up; its log " +
                                spec.log.string() + " ends:\n" + ConsoleLogTail(spec.log));
    }
    if (SteadyClock::now() >= deadline) {
      Stop(spec);
      return FailedPrecondition(Who(spec) + ": virtiofsd did not listen on " +
                                spec.socket.string() + "; its log " + spec.log.string() +
                                " ends:\n" + ConsoleLogTail(spec.log));
    }
    std::this_thread::sleep_for(kPoll);
  }
  return Status::Ok();
}

void VirtiofsdServers::Stop(const VirtiofsdSpec& spec) {
  std::ifstream in(spec.pid_file);
  pid_t pid = 0;
  if (in >> pid && pid > 0) {
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    // Checked after pidfd_open: the pidfd then names this very process.
    if (pidfd.valid() && ServesSocket(pid, spec)) {
      ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGTERM, nullptr, 0);
      if (!WaitGone(pidfd.get(), pid, kTermWait)) {
        ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
        if (!WaitGone(pidfd.get(), pid, kKillWait))
          spdlog::error("{}: virtiofsd pid {} survives SIGKILL", Who(spec), pid);
      }
    } else if (pidfd.valid()) {
      (void)::waitpid(pid, nullptr, WNOHANG);  // our child, exited by itself (a zombie)
    }
  }
  std::error_code ec;
  fs::remove(spec.socket, ec);
  fs::remove(spec.pid_file, ec);
}

}  // namespace warren

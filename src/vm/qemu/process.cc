#include "vm/qemu/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sys/oom.h"
#include "sys/spawn_attr.h"

namespace warren {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr auto kKillWait = std::chrono::seconds(10);
constexpr auto kPowerdownCommandTimeout = std::chrono::seconds(2);
constexpr auto kQmpAttempt = std::chrono::milliseconds(200);
constexpr size_t kLogTailBytes = 2048;
// waitid() id type for pidfds (Linux 5.4); glibc's idtype_t may not name it.
constexpr idtype_t kPidfdIdType = static_cast<idtype_t>(3);

// Raw syscalls: glibc 2.36's <sys/pidfd.h> lacks extern "C" for C++.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int PidfdKill(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

Result<std::string> ResolveBinary(const std::filesystem::path& binary) {
  auto executable = [](const std::filesystem::path& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (binary.string().find('/') != std::string::npos) {
    if (executable(binary)) return binary.string();
  } else {
    const char* env_path = std::getenv("PATH");
    std::stringstream dirs(env_path != nullptr ? env_path : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (!dir.empty() && executable(std::filesystem::path(dir) / binary)) {
        return (std::filesystem::path(dir) / binary).string();
      }
    }
  }
  return NotFound("QEMU binary \"" + binary.string() +
                  "\" not found or not executable; install qemu-system-x86");
}

std::string FileTail(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(size > static_cast<std::streamoff>(kLogTailBytes) ? size - kLogTailBytes : 0);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

Status CheckLaunch(const QemuLaunch& launch) {
  RETURN_IF_ERROR(ValidateVmSpec(launch.spec));
  const VmSpec& spec = launch.spec;
  if ((launch.tap_fd >= 0) != (spec.tap_fd >= 0)) {
    return InvalidArgument("vm " + spec.name + ": a TAP fd and spec.tap_fd go together");
  }
  if (spec.tap_fd >= 0 && spec.tap_fd != kQemuTapFd) {
    return InvalidArgument("vm " + spec.name + ": spec.tap_fd must be kQemuTapFd (" +
                           std::to_string(kQemuTapFd) + ")");
  }
  if (launch.tap_fd >= 0 && launch.tap_fd < 3) {
    return InvalidArgument("vm " + spec.name + ": TAP fd must not be stdin/stdout/stderr");
  }
  if ((launch.ram_fd >= 0) != (spec.ram_file == kQemuRamFdPath)) {
    return InvalidArgument("vm " + spec.name + ": a RAM fd and spec.ram_file " +
                           std::string(kQemuRamFdPath) + " go together");
  }
  if (launch.ram_fd >= 0 && launch.ram_fd < 3) {
    return InvalidArgument("vm " + spec.name + ": RAM fd must not be stdin/stdout/stderr");
  }
  if (launch.output_log.empty()) return InvalidArgument("vm " + spec.name + ": no output log");
  return Status::Ok();
}

}  // namespace

std::optional<std::vector<std::string>> ProcCmdline(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  if (!in) return std::nullopt;
  std::vector<std::string> argv;
  std::string arg;
  while (std::getline(in, arg, '\0')) argv.push_back(arg);
  return argv;
}

namespace {

bool IsQemuServing(const std::vector<std::string>& argv, const std::filesystem::path& qmp) {
  if (argv.empty()) return false;
  if (std::filesystem::path(argv[0]).filename().string().rfind("qemu-system", 0) != 0) return false;
  const std::string needle = "path=" + QemuOptEscape(qmp.string()) + ",";
  for (const std::string& a : argv) {
    if (a.rfind("socket,", 0) == 0 && a.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

QemuProcess::QemuProcess(pid_t pid, UniqueFd pidfd, bool is_child, QemuExitCallback on_exit)
    : pid_(pid), pidfd_(std::move(pidfd)), is_child_(is_child), on_exit_(std::move(on_exit)) {}

QemuProcess::~QemuProcess() {
  if (watcher_.joinable()) {
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof(one));
    watcher_.join();
  }
}

Result<std::unique_ptr<QemuProcess>> QemuProcess::Launch(const QemuLaunch& launch,
                                                         QemuExitCallback on_exit) {
  RETURN_IF_ERROR(CheckLaunch(launch));
  const VmSpec& spec = launch.spec;
  ASSIGN_OR_RETURN(std::string program, ResolveBinary(spec.qemu_binary));
  // A stale socket of an earlier QEMU would only answer ECONNREFUSED; QEMU
  // replaces it anyway, but removing it first keeps the QMP wait honest.
  std::error_code ec;
  std::filesystem::remove(spec.qmp_socket, ec);
  UniqueFd log(::open(launch.output_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log.valid()) return ErrnoError("open QEMU log " + launch.output_log.string(), errno);

  std::vector<ChildFd> fds;
  if (launch.tap_fd >= 0) fds.push_back({launch.tap_fd, kQemuTapFd});
  if (launch.ram_fd >= 0) fds.push_back({launch.ram_fd, kQemuRamFd});
  ASSIGN_OR_RETURN(pid_t pid, SpawnLogged(program, BuildQemuArgv(spec), log.get(), fds));
  UniqueFd pidfd(PidfdOpen(pid));
  if (!pidfd.valid()) {
    // Our own unreaped child cannot be gone, so this is a resource problem.
    Status st = ErrnoError("pidfd_open for QEMU", errno);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return st;
  }
  spdlog::info("vm {}: started QEMU pid {} ({})", spec.name, pid, AccelName(spec.accel));
  if (Status adj = SetOomScoreAdj(pid, spec.oom_score_adj); !adj.ok()) {
    // Not fatal: the VM works, only the OOM killer's choice is worse.
    spdlog::warn("vm {}: {}", spec.name, adj.ToString());
  }
  std::unique_ptr<QemuProcess> proc(
      new QemuProcess(pid, std::move(pidfd), true, std::move(on_exit)));
  proc->StartWatcher();

  // Short connect attempts so a QEMU that dies on bad options is reported at
  // once. Once connected, the handshake gets the whole deadline on that one
  // connection: QEMU closes it if it dies, and a second connection after a
  // slow handshake could receive the first one's reply before its greeting.
  const auto deadline = SteadyClock::now() + launch.qmp_timeout;
  Status last = DeadlineExceeded("QMP did not answer");
  while (!proc->exited() && SteadyClock::now() < deadline) {
    Result<UniqueFd> sock = QmpClient::ConnectSocket(spec.qmp_socket, kQmpAttempt);
    if (!sock.ok()) {
      last = sock.error();
      if (last.code() != Code::kDeadlineExceeded) break;
      continue;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    Result<std::unique_ptr<QmpClient>> qmp =
        QmpClient::FromFd(std::move(sock).value(), std::max(left, std::chrono::milliseconds(1)));
    if (qmp.ok()) {
      proc->qmp_ = std::move(qmp).value();
      return proc;
    }
    last = qmp.error();
    break;
  }
  (void)proc->Kill();
  // QEMU closing the socket can precede the watcher seeing the exit, so ask
  // the exit status (never a SIGKILL we sent) whether it died by itself.
  std::optional<QemuExit> exit = proc->exit_info();
  const bool died = exit.has_value() && exit->status_known && exit->term_signal != SIGKILL;
  std::string msg = died ? "QEMU exited during start-up" : "QEMU did not serve QMP";
  msg += " (" + last.message() + "); end of " + launch.output_log.string() + ":\n" +
         FileTail(launch.output_log);
  if (died) return Unavailable("vm " + spec.name + ": " + msg);
  return Status(last.code(), "vm " + spec.name + ": " + msg);
}

Result<std::unique_ptr<QemuProcess>> QemuProcess::Adopt(pid_t pid,
                                                        const std::filesystem::path& qmp_socket,
                                                        QemuExitCallback on_exit,
                                                        std::chrono::milliseconds qmp_timeout) {
  const std::string who = "QEMU pid " + std::to_string(pid) + " (" + qmp_socket.string() + ")";
  if (pid <= 0) return InvalidArgument(who + ": not a pid");
  // The pidfd pins the process first; the cmdline read after it then proves
  // that the pinned process is the VM's QEMU and not a reuse of the pid.
  UniqueFd pidfd(PidfdOpen(pid));
  if (!pidfd.valid() && errno == ESRCH) return NotFound(who + " is gone");
  if (!pidfd.valid()) return ErrnoError("pidfd_open for " + who, errno);
  std::optional<std::vector<std::string>> argv = ProcCmdline(pid);
  if (!argv || !IsQemuServing(*argv, qmp_socket)) {
    return NotFound(who + ": the pid now belongs to another program; the VM's QEMU is gone");
  }
  pollfd p = {pidfd.get(), POLLIN, 0};
  if (::poll(&p, 1, 0) > 0) return NotFound(who + " has exited");

  std::unique_ptr<QemuProcess> proc(
      new QemuProcess(pid, std::move(pidfd), /*is_child=*/false, std::move(on_exit)));
  Result<std::unique_ptr<QmpClient>> qmp = QmpClient::Connect(qmp_socket, qmp_timeout);
  if (!qmp.ok()) {
    if (proc->WaitForExit(std::chrono::milliseconds(0)) || ::poll(&p, 1, 0) > 0) {
      return NotFound(who + " exited while being adopted");
    }
    return Unavailable(who + " runs but its QMP socket does not answer: " + qmp.error().message());
  }
  proc->qmp_ = std::move(qmp).value();
  proc->StartWatcher();
  spdlog::info("adopted {}", who);
  return proc;
}

void QemuProcess::StartWatcher() {
  wake_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  CHECK(wake_.valid());
  watcher_ = std::thread([this] { Watch(); });
}

void QemuProcess::Watch() {
  while (true) {
    pollfd fds[2] = {{pidfd_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("poll on QEMU pid {}: {}", pid_, std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;  // The owner is going away; QEMU keeps running.
    if (fds[0].revents != 0) break;
  }
  QemuExit exit = Reap();
  {
    MutexLock lock(&mu_);
    exit.stop_requested = stop_requested_;
    exit_ = exit;
    exit_cv_.SignalAll();
  }
  spdlog::info("QEMU pid {} ended (exit {}, signal {}{})", pid_, exit.exit_code, exit.term_signal,
               exit.status_known ? "" : ", status unknown");
  if (on_exit_) on_exit_(exit);
}

QemuExit QemuProcess::Reap() {
  QemuExit exit;
  siginfo_t info = {};
  // An adopted QEMU may still be our child (same daemon re-adopting); try
  // without blocking and accept ECHILD for a foreign one.
  const int flags = WEXITED | (is_child_ ? 0 : WNOHANG);
  int rc;
  do {
    rc = ::waitid(kPidfdIdType, static_cast<id_t>(pidfd_.get()), &info, flags);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0 && info.si_pid != 0) {
    exit.status_known = true;
    if (info.si_code == CLD_EXITED) {
      exit.exit_code = info.si_status;
    } else {
      exit.term_signal = info.si_status;
    }
  }
  return exit;
}

bool QemuProcess::exited() const {
  MutexLock lock(&mu_);
  return exit_.has_value();
}

std::optional<QemuExit> QemuProcess::exit_info() const {
  MutexLock lock(&mu_);
  return exit_;
}

bool QemuProcess::WaitForExit(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  MutexLock lock(&mu_);
  while (!exit_.has_value()) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    exit_cv_.WaitFor(&mu_, left);
  }
  return true;
}


void QemuProcess::MarkStopRequested() {
  MutexLock lock(&mu_);
  stop_requested_ = true;
}

Result<QmpStatus> QemuProcess::QueryStatus() {
  if (qmp_ == nullptr) return Unavailable("QEMU pid " + std::to_string(pid_) + " has no QMP");
  return qmp_->QueryStatus();
}

Status QemuProcess::Stop(std::chrono::milliseconds graceful_timeout) {
  if (exited()) return Status::Ok();
  MarkStopRequested();
  if (qmp_ != nullptr && !qmp_->closed()) {
    Status st = qmp_->SystemPowerdown(
        std::min<std::chrono::milliseconds>(graceful_timeout, kPowerdownCommandTimeout));
    if (!st.ok()) spdlog::warn("QEMU pid {}: powerdown failed: {}", pid_, st.ToString());
  }
  if (WaitForExit(graceful_timeout)) return Status::Ok();
  spdlog::info("QEMU pid {} still runs {} ms after powerdown; killing it", pid_,
               graceful_timeout.count());
  return Kill();
}

Status QemuProcess::Kill() {
  MarkStopRequested();
  // Through the pidfd, so the signal can only reach this very process.
  if (PidfdKill(pidfd_.get(), SIGKILL) < 0 && errno != ESRCH) {
    return ErrnoError("SIGKILL QEMU pid " + std::to_string(pid_), errno);
  }
  if (!watcher_.joinable()) return Status::Ok();  // Not watched: nothing to wait on.
  if (!WaitForExit(std::chrono::duration_cast<std::chrono::milliseconds>(kKillWait))) {
    return Internal("QEMU pid " + std::to_string(pid_) + " survived SIGKILL for 10 s");
  }
  return Status::Ok();
}

}  // namespace warren

#include "e2e/daemon_harness.h"

#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "net/netns.h"
#include "session/guest_socket.h"
#include "session/libssh_dialer.h"
#include "sys/files.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool SocketAccepts(const fs::path& socket) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socket.string().copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string TestCacheDir() {
  const char* cache = std::getenv("WARREN_TEST_CACHE");
  return cache != nullptr && *cache != '\0' ? fs::absolute(cache).string() : "";
}

WarrenDaemon::WarrenDaemon(const std::string& extra_config) {
  char tmpl[] = "/tmp/warren-e2e-XXXXXX";
  root_ = ::mkdtemp(tmpl);
  std::ofstream config(root_ / "config.toml");
  // A free host DNS port, inside the caller's [dns] table if it has one.
  std::string extra = extra_config;
  const std::string listen = "host_listen = \"127.0.0.1:0\"\n";
  if (size_t at = extra.find("[dns]\n"); at != std::string::npos) {
    extra.insert(at + 6, listen);
  } else {
    config << "[dns]\n" << listen;
  }
  if (!TestCacheDir().empty()) config << "[images]\ncache_dir = \"" << TestCacheDir() << "\"\n";
  // The web UI on a free port too, unless the caller configures [web].
  if (extra.find("[web]\n") == std::string::npos) config << "[web]\nlisten = \"127.0.0.1:0\"\n";
  config << extra << "\n";
  reaper_ = std::make_unique<ReaperForTest>(root_.string());
}

WarrenDaemon::~WarrenDaemon() {
  if (pid_ > 0) {
    Result<json> vms = Call("vm.list");
    if (vms.ok()) {
      for (const json& vm : (*vms)["vms"]) {
        (void)Call("vm.rm", {{"name", vm.value("name", "")}, {"force", true}});
      }
    }
    Stop();
  }
  // A daemon that died leaves QEMUs and its namespace: take them down too.
  for (pid_t p : QemuPids()) ::kill(p, SIGKILL);
  if (!netns_.empty()) (void)NetnsHandle::Delete(kDefaultNetnsDir, netns_);
  std::error_code ec;
  fs::remove_all(root_, ec);
  reaper_.reset();  // everything is gone: the reaper exits without acting
}

Status WarrenDaemon::Start(const std::vector<std::string>& env, bool own_netns) {
  const pid_t test_pid = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) return ErrnoError("fork", errno);
  if (pid_ == 0) {
    DieWithParentForTest(test_pid);
    // Its output goes to the log, never to ctest's pipes (which a daemon
    // outliving the test would hold open).
    std::string log = (root_ / "daemon.log").string();
    if (std::freopen(log.c_str(), "a", stderr) == nullptr) _exit(126);
    if (std::freopen(log.c_str(), "a", stdout) == nullptr) _exit(126);
    if (std::freopen("/dev/null", "r", stdin) == nullptr) _exit(126);
    if (!cgroup_.empty()) {
      std::ofstream procs(cgroup_ / "cgroup.procs");
      procs << ::getpid() << std::flush;
      if (!procs) _exit(123);
    }
    if (own_netns) {
      if (::unshare(CLONE_NEWNET) != 0) _exit(125);
      if (std::system("ip link set lo up") != 0) _exit(124);
    }
    for (const std::string& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
    ::execl(WARREN_BINARY, "warren", "--root", root_.c_str(), "daemon", nullptr);
    _exit(127);
  }
  const fs::path socket = root_ / "run/warren.sock";
  for (int i = 0; i < 600; ++i) {
    if (SocketAccepts(socket)) {
      Result<json> status = Call("daemon.status");
      if (!status.ok()) return status.status();
      host_mode_ = (*status)["network"].value("mode", "") == "host";
      netns_ = host_mode_ ? "" : (*status)["network"].value("namespace", "");
      if (!netns_.empty()) reaper_->AddCleanup("ip netns delete " + netns_);
      return Status::Ok();
    }
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return Internal("warren daemon exited during start:\n" + Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return DeadlineExceeded("warren daemon did not listen within 15 s:\n" + Log());
}

void WarrenDaemon::JoinCgroupAtStart(const fs::path& cgroup) {
  cgroup_ = cgroup;
  // After the reaper's SIGKILLs the group empties as the processes exit.
  reaper_->AddCleanup("for i in $(seq 20); do rmdir '" + cgroup.string() +
                      "' 2>/dev/null && break; sleep 0.25; done");
}

int WarrenDaemon::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  return WaitExit();
}

int WarrenDaemon::WaitExit() {
  if (pid_ <= 0) return -1;
  int st = 0;
  if (!WaitPidFor(pid_, &st, std::chrono::seconds(90))) {
    std::fprintf(stderr, "warren daemon %d still running after 90 s: SIGKILL\n", pid_);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &st, 0);
  }
  pid_ = -1;
  return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

Result<json> WarrenDaemon::Call(std::string_view method, const json& params,
                                const rpc::Client::NotifyFn& notify) {
  ASSIGN_OR_RETURN(std::unique_ptr<rpc::Client> client,
                   rpc::Client::Connect(root_ / "run/warren.sock"));
  return client->Call(method, params.is_null() ? json::object() : params, notify);
}

Status WarrenDaemon::WaitOp(const std::string& id, json* op) {
  ASSIGN_OR_RETURN(json done, Call("op.wait", {{"id", id}}));
  if (op != nullptr) *op = done;
  if (done.value("state", "") == "succeeded") return Status::Ok();
  return Internal("op " + id + " " + done.value("state", "") + ": " + done.value("error", ""));
}

Status WarrenDaemon::BuildDefaultImage(const std::string& name) {
  ASSIGN_OR_RETURN(json build, Call("image.build", {{"name", name}}));
  return WaitOp(build.value("op", ""));
}

Status WarrenDaemon::StartWithDefaultImage() {
  RETURN_IF_ERROR(Start());
  return BuildDefaultImage();
}

Result<json> WarrenDaemon::StartWithVm(const std::string& vm) {
  RETURN_IF_ERROR(StartWithDefaultImage());
  return CreateVm(vm);
}

Result<json> WarrenDaemon::CreateVm(const std::string& name, int memory_mib,
                                    const std::string& image) {
  ASSIGN_OR_RETURN(json started,
                   Call("vm.create", {{"name", name}, {"image", image}, {"memory_mib", memory_mib}}));
  json op;
  Status st = WaitOp(started.value("op", ""), &op);
  if (!st.ok()) return st.Annotate("create VM " + name + "; daemon log:\n" + Log());
  return op.value("result", json::object());
}

RunResult WarrenDaemon::Cli(const std::vector<std::string>& args, const std::string& stdin_data) {
  RunSpec spec;
  spec.argv = {WARREN_BINARY, "--root", root_.string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.stdin_data = stdin_data;
  spec.timeout = std::chrono::minutes(10);
  Result<RunResult> r = runner_.Run(spec);
  if (!r.ok()) return RunResult{-1, 0, "", r.error().ToString()};
  return *r;
}

Result<GuestConnection::ExecResult> WarrenDaemon::GuestExec(const std::string& vm,
                                                            const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(json info, Call("vm.inspect", {{"name", vm}}));
  ASSIGN_OR_RETURN(std::string key, ReadFileToString(root_ / "state/ssh/id_ed25519"));
  ASSIGN_OR_RETURN(std::string host_key, ReadFileToString(root_ / "vms" / vm / "host_key.pub"));
  ASSIGN_OR_RETURN(NetnsHandle ns,
                   host_mode_ ? NetnsHandle::Open("/proc/" + std::to_string(pid_) + "/ns", "net")
                              : NetnsHandle::Open(kDefaultNetnsDir, Netns()));
  LibsshDialer dialer(NetnsSocketFactory(ns));
  GuestEndpoint ep{info.value("ip", ""), 22, "root", Trim(host_key), key};
  ASSIGN_OR_RETURN(std::unique_ptr<GuestConnection> conn,
                   dialer.Dial(ep, std::chrono::seconds(20)));
  return conn->Exec(argv, "", {});
}

std::string WarrenDaemon::Netns() { return netns_; }

std::vector<std::string> WarrenDaemon::Taps() {
  std::vector<std::string> taps;
  RunSpec spec;
  if (host_mode_ && pid_ > 0) {
    spec.argv = {"nsenter", "-t", std::to_string(pid_), "-n", "ip", "-o", "link", "show", "type",
                 "tun"};
  } else if (!netns_.empty()) {
    spec.argv = {"ip", "-n", netns_, "-o", "link", "show", "type", "tun"};
  } else {
    return taps;
  }
  Result<RunResult> r = runner_.Run(spec);
  if (!r.ok()) return taps;
  std::istringstream lines(r->out);
  for (std::string line; std::getline(lines, line);) {
    // "12: wtap3: <...>"
    size_t a = line.find(": ");
    size_t b = line.find(':', a + 2);
    if (a != std::string::npos && b != std::string::npos) taps.push_back(line.substr(a + 2, b - a - 2));
  }
  return taps;
}

std::vector<pid_t> WarrenDaemon::QemuPids() {
  std::vector<pid_t> pids;
  const std::string needle = root_.string() + "/";
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    Result<std::string> cmdline = ReadFileToString(entry.path() / "cmdline");
    if (!cmdline.ok() || cmdline->rfind("qemu-system", 0) != 0) continue;
    if (cmdline->find(needle) == std::string::npos) continue;
    Result<std::string> stat = ReadFileToString(entry.path() / "stat");
    if (stat.ok() && stat->find(") Z ") != std::string::npos) continue;  // zombie
    pids.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return pids;
}

std::string WarrenDaemon::Log() {
  Result<std::string> log = ReadFileToString(root_ / "daemon.log");
  return log.ok() ? *log : "";
}

Status RegisterDefaultBuiltBy(WarrenDaemon& builder, WarrenDaemon& d) {
  RETURN_IF_ERROR(builder.Start());
  ASSIGN_OR_RETURN(json build, builder.Call("image.build", {{"name", "default"}}));
  json built;
  RETURN_IF_ERROR(builder.WaitOp(build.value("op", ""), &built));
  const std::filesystem::path dir = built["result"].value("dir", "");
  const json parts = built["result"]["manifest"]["parts"];
  return d.Call("image.register",
                {{"name", "default"},
                 {"kernel", (dir / parts["kernel"].value("file", "")).string()},
                 {"initrd", (dir / parts["initrd"].value("file", "")).string()},
                 {"rootfs", (dir / parts["rootfs"].value("file", "")).string()},
                 {"cmdline", built["result"]["manifest"].value("cmdline", "")}})
      .status();
}

}  // namespace warren::e2e

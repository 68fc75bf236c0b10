#include "shim/guest_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rpc/frame.h"
#include "rpc/stream_control.h"
#include "sys/files.h"

namespace warren::shim {
namespace {

using nlohmann::json;

constexpr uint32_t kStream = 1;

// Opens a FIFO containerd made. Write ends are opened read-write so the open
// never blocks on a reader that has not arrived (or has gone).
int OpenFifo(const std::string& path, bool for_reading) {
  if (path.empty()) return -1;
  return ::open(path.c_str(), (for_reading ? O_RDONLY | O_NONBLOCK : O_RDWR) | O_CLOEXEC);
}

void WriteAll(int fd, std::string_view bytes) {
  while (fd >= 0 && !bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the reader left: the command's output is dropped, as runc's shim does
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

std::string SignalName(int signo) {
  const char* abbrev = sigabbrev_np(signo);
  return abbrev ? abbrev : "TERM";
}

}  // namespace

Result<ProcessSpec> ParseOciProcess(const json& p) {
  if (!p.is_object()) return InvalidArgument("OCI spec: process must be an object");
  ProcessSpec s;
  auto strings = [&](const char* key, std::vector<std::string>& out) -> Status {
    auto it = p.find(key);
    if (it == p.end() || it->is_null()) return Status::Ok();
    if (!it->is_array()) return InvalidArgument(std::string("OCI spec: process.") + key + " must be an array");
    for (const json& v : *it) {
      if (!v.is_string()) return InvalidArgument(std::string("OCI spec: process.") + key + " must hold strings");
      out.push_back(v.get<std::string>());
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(strings("args", s.args));
  RETURN_IF_ERROR(strings("env", s.env));
  if (s.args.empty()) return InvalidArgument("OCI spec: process.args is empty (no command to run)");
  if (auto it = p.find("cwd"); it != p.end() && it->is_string() && !it->get<std::string>().empty()) {
    s.cwd = it->get<std::string>();
  }
  if (auto it = p.find("terminal"); it != p.end() && it->is_boolean()) s.terminal = it->get<bool>();
  if (auto it = p.find("user"); it != p.end() && it->is_object()) {
    s.uid = it->value("uid", 0u);
    s.gid = it->value("gid", 0u);
  }
  return s;
}

std::vector<std::string> GuestArgv(const ProcessSpec& spec, const std::string& guest_root) {
  std::vector<std::string> argv = {"/usr/bin/env", "-i"};
  argv.insert(argv.end(), spec.env.begin(), spec.env.end());
  argv.push_back("/usr/sbin/chroot");
  argv.push_back("--userspec=" + std::to_string(spec.uid) + ":" + std::to_string(spec.gid));
  argv.push_back(guest_root);
  if (spec.cwd != "/") {
    argv.insert(argv.end(), {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", spec.cwd});
  }
  argv.insert(argv.end(), spec.args.begin(), spec.args.end());
  return argv;
}

GuestProcess::GuestProcess(std::filesystem::path daemon_socket, std::string vm, ProcessSpec spec,
                           Stdio io, std::string guest_root)
    : daemon_socket_(std::move(daemon_socket)),
      vm_(std::move(vm)),
      spec_(std::move(spec)),
      io_(std::move(io)),
      guest_root_(std::move(guest_root)),
      stop_fd_(::eventfd(0, EFD_CLOEXEC)) {}

GuestProcess::~GuestProcess() {
  if (runner_.joinable()) runner_.join();
  if (stdin_pump_.joinable()) stdin_pump_.join();
  ::close(stop_fd_);
}

Status GuestProcess::Start() {
  {
    MutexLock lock(&mu_);
    if (started_) return FailedPrecondition("process already started");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<rpc::Client> c, rpc::Client::Connect(daemon_socket_));
  std::shared_ptr<rpc::Client> client(std::move(c));
  {
    MutexLock lock(&mu_);
    started_ = true;
    client_ = client;
  }
  runner_ = std::thread([this, client] { Run(client); });
  return Status::Ok();
}

void GuestProcess::Run(std::shared_ptr<rpc::Client> client) {
  const int out = OpenFifo(io_.stdout_path, false);
  const int err = spec_.terminal ? out : OpenFifo(io_.stderr_path, false);
  json params = {{"vm", vm_}, {"argv", GuestArgv(spec_, guest_root_)}, {"tty", spec_.terminal},
                 {"stream", kStream}, {"wait", true}, {"wait_timeout_s", 60}};
  bool stdin_started = false;
  auto on_stream = [&](uint32_t, uint8_t channel, std::string_view bytes) {
    if (channel == rpc::kChannelControl) {
      auto c = rpc::StreamControl::Parse(bytes);
      if (c.ok() && c->ready && !stdin_started) {
        stdin_started = true;
        int in = OpenFifo(io_.stdin_path, true);
        if (in < 0) {
          (void)client->SendStream(kStream, rpc::kChannelControl, rpc::ControlEof());
        } else {
          stdin_pump_ = std::thread([this, in] { PumpStdin(in); });
        }
      }
      return;
    }
    WriteAll(channel == rpc::kChannelStderr ? err : out, bytes);
  };
  Result<json> r = client->Call("vm.exec", params, {}, on_stream);
  uint32_t status = 255;
  if (r.ok() && (*r)["exit_code"].is_number_integer()) {
    status = static_cast<uint32_t>((*r)["exit_code"].get<int>());
  } else if (r.ok()) {
    MutexLock lock(&mu_);
    status = 128 + (last_signal_ ? last_signal_ : SIGKILL);
  } else if (out >= 0 || err >= 0) {
    WriteAll(err >= 0 ? err : out, "warren: " + r.status().ToString() + "\n");
  }
  if (out >= 0) ::close(out);
  if (err >= 0 && err != out) ::close(err);
  Finish(status);
}

void GuestProcess::PumpStdin(int fd) {
  std::shared_ptr<rpc::Client> client = Connection();
  char buf[32 << 10];
  while (client) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[1].revents) break;
    if (!fds[0].revents) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      (void)client->SendStream(kStream, rpc::kChannelControl, rpc::ControlEof());
      break;
    }
    if (!client->SendStream(kStream, rpc::kChannelStdin, std::string_view(buf, n)).ok()) break;
  }
  ::close(fd);
}

void GuestProcess::Finish(uint32_t status) {
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  MutexLock lock(&mu_);
  client_.reset();
  exit_ = ExitInfo{status, std::chrono::system_clock::now()};
  cv_.SignalAll();
}

std::shared_ptr<rpc::Client> GuestProcess::Connection() {
  MutexLock lock(&mu_);
  return client_;
}

ExitInfo GuestProcess::Wait() {
  MutexLock lock(&mu_);
  while (!exit_) cv_.Wait(&mu_);
  return *exit_;
}

std::optional<ExitInfo> GuestProcess::Exited() {
  MutexLock lock(&mu_);
  return exit_;
}

bool GuestProcess::started() {
  MutexLock lock(&mu_);
  return started_;
}

Status GuestProcess::Signal(int signo) {
  std::shared_ptr<rpc::Client> client;
  {
    MutexLock lock(&mu_);
    last_signal_ = signo;
    client = client_;
  }
  if (!client) return NotFound("process has already exited");
  return client->SendStream(kStream, rpc::kChannelControl, rpc::ControlSignal(SignalName(signo)));
}

Status GuestProcess::Resize(uint32_t cols, uint32_t rows) {
  std::shared_ptr<rpc::Client> client = Connection();
  if (!client) return NotFound("process has already exited");
  return client->SendStream(kStream, rpc::kChannelControl,
                            rpc::ControlResize(static_cast<int>(cols), static_cast<int>(rows)));
}

Status GuestProcess::CloseStdin() {
  std::shared_ptr<rpc::Client> client = Connection();
  if (!client) return Status::Ok();
  return client->SendStream(kStream, rpc::kChannelControl, rpc::ControlEof());
}

}  // namespace warren::shim

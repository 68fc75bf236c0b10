#include "e2e/image_boot_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace warren::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// True when something accepts TCP on host:22 within `timeout`.
bool PortOpen(const std::string& host, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(22);
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  bool open = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    open = true;
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      open = err == 0;
    }
  }
  ::close(fd);
  return open;
}

}  // namespace

RunSpec Spec(std::vector<std::string> argv) {
  RunSpec spec;
  spec.argv = std::move(argv);
  return spec;
}

std::vector<std::string> TcgQemuArgv(const BootFiles& f, const GuestNet& net) {
  return {"qemu-system-x86_64",
          "-M",
          "q35,i8042=off,sata=off,smbus=off,usb=off,vmport=off",
          "-accel",
          "tcg",
          "-cpu",
          "max",
          "-smp",
          std::to_string(f.cpus),
          "-m",
          std::to_string(f.memory_mib),
          "-bios",
          "/usr/share/qemu/qboot.rom",
          "-nodefaults",
          "-no-user-config",
          "-no-reboot",
          "-display",
          "none",
          "-serial",
          "file:" + f.serial_log.string(),
          "-kernel",
          f.kernel.string(),
          "-initrd",
          f.initrd.string(),
          "-append",
          f.cmdline,
          "-drive",
          "file=" + f.rootfs.string() + ",if=virtio,format=raw,snapshot=on",
          "-drive",
          "file=" + f.seed.string() + ",if=virtio,format=raw,readonly=on",
          "-netdev",
          "tap,id=n0,ifname=" + net.tap + ",script=no,downscript=no",
          "-device",
          "virtio-net-pci,netdev=n0,romfile=,mac=" + net.mac};
}

Status EnterPrivateNetns(Runner& runner) {
  if (::unshare(CLONE_NEWNET) != 0) return ErrnoError("unshare(CLONE_NEWNET)", errno);
  return RunAndCheck(runner, Spec({"ip", "link", "set", "lo", "up"})).status();
}

Status SetUpTap(Runner& runner, const GuestNet& net) {
  std::vector<std::vector<std::string>> steps = {
      {"ip", "tuntap", "add", net.tap, "mode", "tap"},
      {"ip", "addr", "add", net.host_ip + "/" + std::to_string(net.prefix), "dev", net.tap},
      {"ip", "link", "set", net.tap, "up"},
      {"ip", "neigh", "replace", net.guest_ip, "lladdr", net.mac, "dev", net.tap, "nud",
       "permanent"}};
  for (auto& argv : steps) {
    RETURN_IF_ERROR(RunAndCheck(runner, Spec(argv)).status());
  }
  return Status::Ok();
}

std::vector<std::string> SshArgv(const SshTarget& t, const std::string& command) {
  return {"ssh",
          "-q",
          "-o",
          "BatchMode=yes",
          "-o",
          "ConnectTimeout=5",
          "-o",
          "StrictHostKeyChecking=yes",
          "-o",
          "UserKnownHostsFile=" + t.known_hosts.string(),
          "-o",
          "IdentitiesOnly=yes",
          "-i",
          t.identity.string(),
          "root@" + t.host,
          command};
}

Result<std::chrono::duration<double>> WaitForSsh(Runner& runner, const SshTarget& target,
                                                 std::chrono::seconds deadline) {
  auto start = Clock::now();
  auto end = start + deadline;
  while (Clock::now() < end) {
    if (!PortOpen(target.host, std::chrono::milliseconds(200))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    RunSpec spec = Spec(SshArgv(target, "true"));
    spec.timeout = std::chrono::seconds(20);
    Result<RunResult> r = runner.Run(spec);
    if (r.ok() && r->exit_code == 0) return std::chrono::duration<double>(Clock::now() - start);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return DeadlineExceeded("guest SSH at " + target.host + " not ready within " +
                          std::to_string(deadline.count()) + " s");
}

QemuProcess::QemuProcess(Runner& runner, std::vector<std::string> argv)
    : thread_([this, &runner, argv = std::move(argv)](std::stop_token stop) {
        RunSpec spec = Spec(argv);
        spec.timeout = std::chrono::minutes(5);
        result_ = runner.Run(spec, stop);
        done_.store(true, std::memory_order_release);
      }) {}

QemuProcess::~QemuProcess() { Kill(); }

std::optional<Result<RunResult>> QemuProcess::WaitExit(std::chrono::seconds timeout) {
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (done_.load(std::memory_order_acquire)) return result_;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

void QemuProcess::Kill() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace warren::e2e

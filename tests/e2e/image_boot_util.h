#pragma once

// Helpers to boot a built warren image with plain QEMU (TCG) inside a private
// network namespace and wait for its SSH server, shared by the image e2e test
// and bench/image_bench. Test/bench code only: the VM subsystem has its own
// QEMU command line builder.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "sys/runner.h"

namespace warren::e2e {

// A RunSpec for `argv` with defaults for everything else.
RunSpec Spec(std::vector<std::string> argv);

struct GuestNet {
  std::string tap = "wtap0";
  std::string host_ip = "10.77.0.1";
  std::string guest_ip = "10.77.0.2";
  int prefix = 24;
  std::string mac = "52:54:00:77:00:02";
};

struct BootFiles {
  std::filesystem::path kernel, initrd, rootfs, seed, serial_log;
  std::string cmdline;
  int memory_mib = 256;
  int cpus = 1;
};

// The fastest TCG configuration measured (docs/IMAGES.md): q35 without its
// legacy devices, qboot firmware, no option ROM on the NIC, -nodefaults,
// -no-reboot (a guest reboot or busybox init's SIGTERM path ends QEMU too).
// The root disk is opened with snapshot=on so the image stays pristine.
std::vector<std::string> TcgQemuArgv(const BootFiles& files, const GuestNet& net);

// Moves the calling thread (and every process or thread it creates later)
// into a fresh network namespace with loopback up. Needs root.
Status EnterPrivateNetns(Runner& runner);

// Creates the TAP and a permanent neighbour entry for the guest (so the first
// SYN needs no ARP round trip). Only call inside a private namespace.
Status SetUpTap(Runner& runner, const GuestNet& net);

struct SshTarget {
  std::string host;
  std::filesystem::path identity;     // client private key
  std::filesystem::path known_hosts;  // holds the seed's host key only
};

std::vector<std::string> SshArgv(const SshTarget& t, const std::string& command);

// Polls the guest until `ssh ... true` succeeds (key auth, host key checked
// against known_hosts). Returns the time it took. Errors: DeadlineExceeded.
Result<std::chrono::duration<double>> WaitForSsh(Runner& runner, const SshTarget& target,
                                                 std::chrono::seconds deadline);

// QEMU running on its own thread through Runner; destroying it (or Kill)
// stops the process group, so a failing test never leaks a VM.
class QemuProcess {
 public:
  QemuProcess(Runner& runner, std::vector<std::string> argv);
  ~QemuProcess();
  // Waits up to `timeout` for QEMU to exit on its own; the result if it did.
  std::optional<Result<RunResult>> WaitExit(std::chrono::seconds timeout);
  void Kill();

 private:
  std::atomic<bool> done_{false};
  std::optional<Result<RunResult>> result_;  // written by thread_ before done_ is set
  std::jthread thread_;
};

}  // namespace warren::e2e

#pragma once

// One container process (the task's own, or an exec) run in the task's VM
// through the daemon's `vm.exec`, with its stdio pumped to and from the FIFOs
// containerd handed over.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "rpc/client.h"

namespace warren::shim {

// The part of an OCI runtime spec's `process` the guest needs.
struct ProcessSpec {
  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V"
  std::string cwd = "/";
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool terminal = false;
};

// InvalidArgument naming the member when `process` is not an OCI process
// object with at least one arg.
Result<ProcessSpec> ParseOciProcess(const nlohmann::json& process);

// The guest command that runs `spec` chrooted into `guest_root`: the guest's
// own env(1) starts from an empty environment (only the spec's), chroot(8)
// switches user, and a cwd other than / goes through the image's /bin/sh
// (chroot(8) always starts at the new root). Pure.
std::vector<std::string> GuestArgv(const ProcessSpec& spec, const std::string& guest_root);

struct Stdio {
  std::string stdin_path;  // FIFOs from containerd; "" = none
  std::string stdout_path;
  std::string stderr_path;
};

struct ExitInfo {
  uint32_t status = 0;
  std::chrono::system_clock::time_point at;
};

// Thread-safety: every method may be called from any thread. Start() once.
// The destructor waits for the process to end (call Signal first to hurry it).
class GuestProcess {
 public:
  GuestProcess(std::filesystem::path daemon_socket, std::string vm, ProcessSpec spec, Stdio io,
               std::string guest_root);
  ~GuestProcess();
  GuestProcess(const GuestProcess&) = delete;
  GuestProcess& operator=(const GuestProcess&) = delete;

  // Connects to the daemon and starts the command; the exit is recorded when
  // it ends (Unavailable when the daemon cannot be reached).
  Status Start() EXCLUDES(mu_);
  ExitInfo Wait() EXCLUDES(mu_);
  std::optional<ExitInfo> Exited() EXCLUDES(mu_);
  bool started() EXCLUDES(mu_);
  // Signal by number (SIGTERM, SIGKILL, ...): forwarded to the guest command.
  Status Signal(int signo) EXCLUDES(mu_);
  Status Resize(uint32_t cols, uint32_t rows) EXCLUDES(mu_);
  Status CloseStdin() EXCLUDES(mu_);
  const ProcessSpec& spec() const { return spec_; }
  const Stdio& io() const { return io_; }

 private:
  void Run(std::shared_ptr<rpc::Client> client) EXCLUDES(mu_);
  // The running command's connection (null before Start and after the end),
  // copied out so the send happens outside mu_.
  std::shared_ptr<rpc::Client> Connection() EXCLUDES(mu_);
  void PumpStdin(int fd) EXCLUDES(mu_);
  void Finish(uint32_t status) EXCLUDES(mu_);

  // Immutable after construction.
  const std::filesystem::path daemon_socket_;
  const std::string vm_;
  const ProcessSpec spec_;
  const Stdio io_;
  const std::string guest_root_;
  const int stop_fd_;  // eventfd: the command ended, the stdin pump stops

  Mutex mu_{LockRank::kLeaf, "guest process"};
  CondVar cv_{&mu_};
  std::shared_ptr<rpc::Client> client_ GUARDED_BY(mu_);
  bool started_ GUARDED_BY(mu_) = false;
  int last_signal_ GUARDED_BY(mu_) = 0;
  std::optional<ExitInfo> exit_ GUARDED_BY(mu_);
  std::thread runner_;
  std::thread stdin_pump_;
};

}  // namespace warren::shim

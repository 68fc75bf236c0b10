// A real `warren daemon` for end-to-end tests: its own temp root and config,
// its own network namespace (the daemon's isolated mode makes it), clients over
// its socket, guest commands over SSH through the daemon's key, and cleanup.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "rpc/client.h"
#include "session/guest_ssh.h"
#include "sys/runner.h"
#include "sys/test_util.h"

namespace warren::e2e {

class WarrenDaemon {
 public:
  // `extra_config` is appended to the generated config.toml (which sets the
  // build cache from $WARREN_TEST_CACHE and a free host DNS port).
  explicit WarrenDaemon(const std::string& extra_config = "");
  // Removes every VM (forcefully), stops the daemon and removes the root.
  ~WarrenDaemon();
  WarrenDaemon(const WarrenDaemon&) = delete;
  WarrenDaemon& operator=(const WarrenDaemon&) = delete;

  // Starts `warren daemon` (extra environment as "K=V") and waits for its
  // socket. Call from the test's main thread: the daemon is SIGKILLed when
  // the thread that started it ends (so a killed test process never leaves
  // it running); its QEMUs outlive it, as in production, and are reaped by
  // the destructor or, if the test process dies first, by the reaper. Error if it exits first. With `own_netns` the daemon runs in a
  // fresh network namespace made for it (loopback up): how `host` mode is
  // tested without touching the machine's own namespace.
  Status Start(const std::vector<std::string>& env = {}, bool own_netns = false);
  // Before Start(): the daemon joins this cgroup (a directory with a
  // cgroup.procs) before it execs, so it and every process it spawns (its
  // QEMUs) are charged there from their first page. The caller removes the
  // cgroup; if the test process dies first, the reaper does.
  void JoinCgroupAtStart(const std::filesystem::path& cgroup);
  // SIGTERM and wait (a clean Close). Returns the exit code.
  int Stop();
  // Waits for the daemon to end on its own (e.g. it killed itself); the signal
  // number if it died by one (negative), else its exit code.
  int WaitExit();
  pid_t pid() const { return pid_; }

  // One RPC call on a fresh connection.
  Result<nlohmann::json> Call(std::string_view method, const nlohmann::json& params = {},
                              const rpc::Client::NotifyFn& notify = {});
  // Waits for an op to end; OK when it succeeded (its record in *op).
  Status WaitOp(const std::string& id, nlohmann::json* op = nullptr);
  // Builds an image from the built-in recipe (cached base: seconds) and waits.
  Status BuildDefaultImage(const std::string& name = "default");
  // Start() then BuildDefaultImage(): how most suites begin.
  Status StartWithDefaultImage();
  // ...and one VM from the default image, ready: the set-up of a suite whose
  // tests share one guest. The VM's JSON.
  Result<nlohmann::json> StartWithVm(const std::string& vm);
  // Creates a VM from `image` and waits until SSH is ready; the VM's JSON.
  Result<nlohmann::json> CreateVm(const std::string& name, int memory_mib = 384,
                                  const std::string& image = "default");
  // Runs the CLI against this daemon.
  RunResult Cli(const std::vector<std::string>& args, const std::string& stdin_data = "");

  // Runs argv in a VM over SSH: the daemon's key, the host key it seeded, a
  // socket inside the daemon's namespace.
  Result<GuestConnection::ExecResult> GuestExec(const std::string& vm,
                                                const std::vector<std::string>& argv);

  const std::filesystem::path& root() const { return root_; }
  std::string Netns();                      // the daemon's VM namespace (isolated mode)
  std::vector<std::string> Taps();          // TAP names in that namespace
  std::vector<pid_t> QemuPids();            // QEMUs under this root (VMs, RAM helpers)
  std::string Log();                        // the daemon's stderr so far

 private:
  std::filesystem::path root_;
  pid_t pid_ = -1;
  RealRunner runner_;
  std::string netns_;
  bool host_mode_ = false;  // the VM network is the daemon's own namespace
  std::filesystem::path cgroup_;  // empty: the test's own
  // Kills the daemon and its QEMUs (their command lines name root_) and
  // deletes the namespace if this test process dies before ~WarrenDaemon.
  std::unique_ptr<ReaperForTest> reaper_;
};

// $WARREN_TEST_CACHE or "" (then images build from scratch).
std::string TestCacheDir();

// A daemon in a namespace of its own cannot reach the Debian mirror: `builder`
// (an isolated daemon, started here) builds the default image and `d`
// registers its parts as "default".
Status RegisterDefaultBuiltBy(WarrenDaemon& builder, WarrenDaemon& d);

}  // namespace warren::e2e

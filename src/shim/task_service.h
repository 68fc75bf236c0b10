#pragma once

// containerd.task.v2.Task for one shim: each task is a warren VM (created
// through the daemon's RPC with the bundle's rootfs shared into it) whose
// processes run chrooted into that rootfs (GuestProcess); a Kubernetes pod's
// containers run in their sandbox's VM instead (shim/pod.h). The shim is a client
// of the daemon, never a second VM manager: a crashed shim leaves a VM the
// `delete` subcommand (or `warren vm rm`) removes.

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "shim/guest_process.h"
#include "shim/pod.h"
#include "shim/ttrpc_server.h"

namespace warren::shim {

struct ShimOptions {
  std::string ns;                     // containerd namespace (-namespace)
  std::string id;                     // the first task's id (-id)
  std::string containerd_address;     // -address (for events)
  std::string publish_binary;         // -publish-binary
  std::filesystem::path daemon_socket;  // warren's RPC socket
};

// Removes the task's VM (forcefully; a pod's container leaves its sandbox's
// VM alone and only takes its rootfs out of the pod: shim/pod.h) and unmounts
// <bundle>/rootfs. The placement is read from the bundle's config.json.
// Idempotent: no VM is success. Used by Delete and by the `delete` subcommand.
Status CleanupTask(const ShimOptions& o, const std::string& id, const std::filesystem::path& bundle);

// Thread-safety: handlers run concurrently (one thread per call); the task
// table is guarded by mu_, and no daemon call happens under it.
class TaskService {
 public:
  explicit TaskService(ShimOptions options, std::function<void()> shutdown);
  // The ttrpc table: the twelve methods; others answer Unimplemented.
  std::vector<ttrpc::MethodRow> Table();

 private:
  struct Process {
    std::shared_ptr<GuestProcess> proc;
    ProcessSpec spec;
    Stdio io;
  };
  struct Task {
    std::filesystem::path bundle;
    Placement place;
    Process init;
    std::map<std::string, Process> execs;  // by exec id
  };

  Result<std::string> Create(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> Start(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> Wait(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> State(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> Kill(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> Delete(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> Pids(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> Exec(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> ResizePty(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> CloseIO(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> Connect(std::string_view payload) EXCLUDES(mu_);
  Result<std::string> Shutdown(std::string_view payload) EXCLUDES(mu_);

  // The process `exec_id` ("" = the task's own) of task `id`, copied out.
  Result<Process> Find(const std::string& id, const std::string& exec_id) EXCLUDES(mu_);
  // Makes the task's rootfs visible to the VM its processes run in: boots the
  // task's own VM around it, or binds it into its sandbox's pod directory.
  Status PlaceRootfs(const std::string& id, const Placement& place,
                     const std::filesystem::path& rootfs, const nlohmann::json& spec);
  void PublishExit(const std::string& id, const std::string& exec_id, const ExitInfo& e);

  const ShimOptions options_;
  const std::function<void()> shutdown_;

  Mutex mu_{LockRank::kLeaf, "shim tasks"};
  std::map<std::string, Task> tasks_ GUARDED_BY(mu_);
};

}  // namespace warren::shim

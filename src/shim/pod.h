#pragma once

// Pod grouping: the tasks of one Kubernetes pod share one VM. The CRI plugin
// marks each task's OCI spec with annotations: the pod's sandbox (pause) task
// is `container-type: sandbox`, and each of the pod's containers is
// `container-type: container` with the sandbox's id in `sandbox-id`. Each task
// still has its own shim (one per task id, as today); they meet through the
// sandbox's VM name and its pod directory, so no shim holds another's state.
//
// How a container's rootfs reaches the sandbox's VM: the sandbox's VM shares
// a host directory, the pod directory (a shared mount of itself), besides its
// own rootfs; a container's shim bind-mounts the container's rootfs into it,
// the bind propagates into the share's virtiofsd (which runs its namespace as
// a slave of the host's), and the guest sees it at <kGuestPodDir>/<id>. No
// copy and no daemon change: writes land in containerd's snapshot, as with
// the sandbox's own rootfs.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"

namespace warren::shim {

inline constexpr char kContainerTypeAnnotation[] = "io.kubernetes.cri.container-type";
inline constexpr char kSandboxIdAnnotation[] = "io.kubernetes.cri.sandbox-id";
// Where the guest sees a task's own rootfs, and the pod directory.
inline constexpr char kGuestRoot[] = "/mnt/warren-ctr";
inline constexpr char kGuestPodDir[] = "/mnt/warren-pod";
// Host directory holding one pod directory per sandbox VM.
inline constexpr char kPodsDir[] = "/run/containerd-shim-warren/pods";

// The VM that runs task `id` of namespace `ns` when it has a VM of its own: a
// DNS label, stable so that `delete` finds what a killed shim left.
std::string VmNameFor(const std::string& ns, const std::string& id);

// Where a task runs, decided from its OCI spec alone (so the `delete`
// subcommand decides the same after a shim died).
struct Placement {
  enum class Kind {
    kOwnVm,      // no CRI annotations: a VM of its own, as before pods
    kSandbox,    // a pod's sandbox: a VM of its own that also shares the pod directory
    kContainer,  // a pod's container: runs in its sandbox's VM
  };
  Kind kind = Kind::kOwnVm;
  std::string vm;          // the VM the task's processes run in
  std::string sandbox_id;  // kContainer: the sandbox task's id
  std::string guest_root;  // where that VM sees the task's rootfs

  bool owns_vm() const { return kind != Kind::kContainer; }
  bool in_pod() const { return kind != Kind::kOwnVm; }
  // The pod directory on the host ("" outside a pod).
  std::filesystem::path pod_dir() const;
};

// Pure. A `container` without a sandbox id, or any other container-type value
// than the two, is placed as a task without annotations (a VM of its own).
Placement PlaceTask(const std::string& ns, const std::string& id, const nlohmann::json& spec);

// kSandbox: makes the pod directory, a shared mount of itself (so binds made
// later under it reach the share's virtiofsd). Once per sandbox: a second
// call stacks a second bind (containerd runs `delete` on a dead shim's task,
// which removes the first, before a task id is reused).
Status PreparePodDir(const Placement& p);
// kContainer: bind-mounts the task's rootfs into the pod directory.
// FailedPrecondition when the sandbox has no pod directory (no VM).
Status AttachRootfs(const Placement& p, const std::string& id, const std::filesystem::path& rootfs);
// Undoes AttachRootfs (kContainer) or PreparePodDir (kSandbox, with every
// container's bind under it). Idempotent; nothing to undo is OK.
void DetachFromPod(const Placement& p, const std::string& id);

}  // namespace warren::shim

#pragma once

// The shim's calls out: the warren daemon's RPC (a fresh connection per call,
// as the CLI does) and containerd's publish binary for task events.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"

namespace warren::shim {

struct ShimOptions;

struct VmSize {
  int cpus = 0;        // 0 = the daemon's default
  int memory_mib = 0;  // 0 = the daemon's default
};

// From the OCI spec's linux.resources: cpu quota/period rounded up to whole
// vCPUs, the memory limit in MiB (at least kMinMemoryMib: the guest's own
// kernel and sshd need room besides the container). Pure.
inline constexpr int kMinMemoryMib = 256;
VmSize SizeFromOciSpec(const nlohmann::json& spec);
// A pod's sandbox VM: from the CRI plugin's io.kubernetes.cri.sandbox-cpu-quota /
// -cpu-period (rounded up to whole vCPUs) and -memory (the pod's containers'
// sum, which kubelet ≥ 1.23 passes; the VM gets kMinMemoryMib more for the
// guest itself); what the annotations leave out comes from SizeFromOciSpec.
// Pure.
VmSize SizeForSandbox(const nlohmann::json& spec);

// vm.create then op.wait: OK once the VM answers SSH.
Status CreateVm(const std::filesystem::path& socket, const std::string& name, VmSize size,
                const nlohmann::json& caps);
// vm.rm with force; no such VM is OK.
Status RemoveVm(const std::filesystem::path& socket, const std::string& name);

// `<publish_binary> --address A publish --topic T --namespace NS` with the
// event (a serialised google.protobuf.Any) on stdin, as containerd's shims do.
Status Publish(const ShimOptions& o, const std::string& topic, const std::string& any_bytes);

}  // namespace warren::shim

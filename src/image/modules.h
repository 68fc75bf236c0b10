#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace warren {

// Kernel modules the shared initramfs loads, so the root disk (virtio-blk),
// the NIC (virtio-net) and the seed (ISO9660 on virtio-blk) are usable before
// switch_root. Dependencies are added by ModuleLoadOrder.
const std::vector<std::string>& InitramfsModules();

// Modules the minimal flavour keeps in its root (everything else is pruned):
// the initramfs set plus ACPI power button, evdev, virtio-rng/console/balloon,
// vsock, virtiofs (with fuse, its dependency), overlay and tun.
const std::vector<std::string>& MinimalRootModules();

// Resolves `wanted` module names against a kernel's modules.dep text and
// returns their paths (relative to /lib/modules/<version>, as modules.dep
// names them) in load order: every module after all its dependencies, each
// once. Names match the file name without ".ko[.xz|.zst|.gz]", treating '-'
// and '_' alike. Errors: a wanted module or a dependency is missing
// (NotFound), unless `skip_missing` is set, in which case missing wanted
// modules are ignored (missing dependencies still fail). Pure.
Result<std::vector<std::string>> ModuleLoadOrder(std::string_view modules_dep,
                                                 const std::vector<std::string>& wanted,
                                                 bool skip_missing = false);

// Module name of a modules.dep path: "kernel/fs/isofs/isofs.ko" -> "isofs".
std::string ModuleName(std::string_view path);

}  // namespace warren

#pragma once

// Internal to the image builder: the build steps DebianImageBuilder::Build
// runs in order. Each step reads and writes only under the context's
// directories, runs programs only through the context's Runner, and returns
// early with Cancelled once `stop` is requested.

#include <filesystem>
#include <stop_token>
#include <string>
#include <vector>

#include "base/status.h"
#include "image/builder.h"
#include "image/recipe.h"
#include "sys/runner.h"

namespace warren::build {

struct Context {
  Runner& runner;
  const Recipe& recipe;
  BuildProgress& progress;
  std::stop_token stop;
  std::filesystem::path staging;  // caller-owned
  std::filesystem::path cache;    // shared, content-addressed
  std::filesystem::path root;     // staging/root: the guest's root tree
  std::vector<std::filesystem::path> apt_sources;
};

// Runs `spec` streaming its output line by line into progress.Log; fails
// with the stderr tail on a non-zero exit.
Status RunLogged(Context& ctx, RunSpec spec);

// Returns the cached base tarball for the recipe, running mmdebstrap into the
// cache (temp file + rename) on a miss.
Result<std::filesystem::path> EnsureBase(Context& ctx);

// Unpacks the base tarball into ctx.root.
Status ExtractBase(Context& ctx, const std::filesystem::path& tarball);

// Installs warren's guest files for the recipe's flavour and SSH server,
// removes build-time host keys and the distribution's initrd, and writes a
// neutral hostname and resolv.conf (the seed sets the real ones at boot).
Status InstallGuestFiles(Context& ctx);

// Writes recipe.files and runs recipe.commands (`chroot ROOT argv...`).
Status ApplyRecipe(Context& ctx);

// The single kernel version under ctx.root/lib/modules with a matching
// /boot/vmlinuz-<version>. Errors: none or several (FailedPrecondition).
Result<std::string> KernelVersion(const Context& ctx);

// Minimal flavour: deletes every module outside MinimalRootModules() and
// their dependencies, then reruns depmod inside the root.
Status PruneModules(Context& ctx, const std::string& version);

// Builds the shared busybox initramfs (uncompressed newc cpio) at `out`; for
// the minimal flavour it also carries /early-seed, which applies the seed
// before the root's init runs. Returns the modules it loads, in order.
Result<std::vector<std::string>> BuildInitramfs(Context& ctx, const std::string& version,
                                                const std::filesystem::path& out);

// mkfs.ext4 -d ROOT (no mounts) into `out`, recipe.rootfs_mib in size.
Status MakeRootfs(Context& ctx, const std::filesystem::path& out);

// The minimal flavour's /etc/inittab: the inittab asset with the SSH
// server's foreground command line as the respawn entry. Pure.
std::string MinimalInittab(SshServer server);

// Writes `content` to `guest_path` inside `root`, resolving every symlink on
// the way as if `root` were "/" (a guest's absolute symlink must never point
// the write at the host). Creates missing parents; replaces a final symlink.
Status WriteInRoot(const std::filesystem::path& root, std::string_view guest_path,
                   std::string_view content, uint32_t mode);

// Creates (or replaces) a symlink at `guest_path` inside `root`.
Status SymlinkInRoot(const std::filesystem::path& root, std::string_view guest_path,
                     std::string_view target);

}  // namespace warren::build

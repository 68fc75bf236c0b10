#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace warren {

// How the guest boots once the shared initramfs hands over.
enum class Flavour {
  kMinimal,  // busybox init + warren's scripts, no systemd: SSH in a few seconds
             // under TCG
  kSystemd,  // a normal Debian boot with systemd-sysv and a oneshot unit
             // applying the seed
};
enum class SshServer { kDropbear, kOpenssh };

std::string_view FlavourName(Flavour f);
std::string_view SshServerName(SshServer s);

// A file the builder writes into the new root after the packages are installed.
struct RecipeFile {
  std::string path;     // absolute path inside the guest, no ".." components
  std::string content;  // exact bytes
  uint32_t mode = 0644;
};

// What to build. Parsed and validated before anything runs (see docs/IMAGES.md
// for the TOML format). Plain value; copyable.
struct Recipe {
  std::string suite = "bookworm";  // Debian suite passed to mmdebstrap
  Flavour flavour = Flavour::kMinimal;
  SshServer ssh_server = SshServer::kDropbear;
  std::vector<std::string> packages;  // extra Debian packages (beyond the flavour's own)
  // Programs run inside the new root as `chroot ROOT argv...`, in order, never
  // through a host shell. /proc and /sys are not mounted while they run.
  std::vector<std::vector<std::string>> commands;
  std::vector<RecipeFile> files;
  std::string cmdline_extra;   // appended to the default kernel command line
  uint64_t rootfs_mib = 1024;  // size of the raw ext4 root filesystem
};

// Parses a TOML recipe. `origin` names the source in errors ("recipe.toml").
// Errors (InvalidArgument, with origin and line where known): TOML syntax,
// unknown keys, wrong types, bad flavour/ssh_server, bad suite or package
// names, relative or ".." file paths, empty commands, sizes out of range.
Result<Recipe> ParseRecipe(std::string_view toml, std::string_view origin);

// The built-in default image: minimal flavour, bookworm, dropbear.
Recipe DefaultRecipe();

// Every package mmdebstrap installs for `recipe`: the flavour's own (kernel,
// busybox-static, SSH server, systemd-sysv for kSystemd) plus recipe.packages,
// sorted and deduplicated.
std::vector<std::string> BasePackages(const Recipe& recipe);

// Bumped whenever the base step's mmdebstrap invocation changes meaning.
inline constexpr std::string_view kBaseStepVersion = "base-v1";

// Content key of a cached build step, 64 hex digits. Stable across runs and
// machines: a SHA-256 over the step name, its version, and exactly the inputs
// that step reads. Steps: "base" (suite, flavour, sorted BasePackages), and
// "image" (all of the above plus commands, files, cmdline, size, and the
// embedded guest assets). Unknown step names CHECK-fail.
std::string CacheKey(std::string_view step, const Recipe& recipe);

// Debian-policy package name: [a-z0-9][a-z0-9+.-]+ (an optional ":arch" is
// refused).
bool IsValidPackageName(std::string_view name);

}  // namespace warren

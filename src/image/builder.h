#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "base/status.h"
#include "image/recipe.h"
#include "sys/runner.h"

namespace warren {

// Progress sink for a build. Called from the building thread only.
struct BuildProgress {
  virtual ~BuildProgress() = default;
  virtual void Step(std::string name,
                    double fraction) = 0;  // fraction in [0, 1]
  virtual void Log(std::string line) = 0;  // one line of build output
};

// The output of a build: three files inside the staging directory plus what
// the registry records in the manifest.
struct BuiltImage {
  std::filesystem::path kernel, initrd, rootfs;
  std::string cmdline;   // default kernel command line
  nlohmann::json facts;  // flavour, init, ssh_server, ssh_user, seed,
                         // kernel_version, suite, ...
};

// The seam the image registry builds through (tests inject a fake).
class ImageBuilder {
 public:
  virtual ~ImageBuilder() = default;
  // Builds into `staging_dir` (created by the caller, removed by the caller on
  // failure). Steps are cached by content under `cache_dir`: the base root
  // tarball is keyed by CacheKey("base", recipe) and reused by any build with
  // the same suite and packages. Errors: a step's program missing or failing
  // (with its stderr tail), Cancelled when `stop` is requested, I/O errors.
  virtual Result<BuiltImage> Build(const Recipe& recipe, const std::filesystem::path& staging_dir,
                                   const std::filesystem::path& cache_dir, BuildProgress& progress,
                                   std::stop_token stop) = 0;
};

// Kernel command line every warren image boots with (see docs/IMAGES.md for
// what each option saves under TCG), plus recipe.cmdline_extra.
std::string DefaultCmdline(const Recipe& recipe);

// Host files whose contents become the new root's apt sources (each is passed
// to mmdebstrap as a MIRROR argument, which pastes an existing file's
// contents): every non-empty sources.list / sources.list.d/*.list / *.sources
// under `apt_dir`, sorted. The mirror is thus whatever the host uses.
std::vector<std::filesystem::path> HostAptSources(const std::filesystem::path& apt_dir);

// Builds Debian images with mmdebstrap, chroot, cpio and mkfs.ext4, run
// through `runner`; never mounts anything. Needs root (mmdebstrap root mode,
// chroot, mknod). Stateless apart from its seams, hence thread-safe; two
// concurrent builds may share a cache_dir (cache files are published by
// rename).
class DebianImageBuilder final : public ImageBuilder {
 public:
  struct Options {
    std::filesystem::path apt_dir = "/etc/apt";  // where HostAptSources looks
  };
  DebianImageBuilder(Runner& runner, Options options) : runner_(runner), options_(options) {}

  Result<BuiltImage> Build(const Recipe& recipe, const std::filesystem::path& staging_dir,
                           const std::filesystem::path& cache_dir, BuildProgress& progress,
                           std::stop_token stop) override;

 private:
  Runner& runner_;
  const Options options_;
};

// One cached step output (today: base root tarballs, "base-<key>.tar").
struct CacheEntry {
  std::string step;  // "base"
  std::string key;   // CacheKey of the step
  std::filesystem::path path;
  uint64_t bytes = 0;
  std::filesystem::file_time_type modified;
};

// Lists `cache_dir` (a missing dir is an empty cache). Unfinished temp files
// are not listed. Errors: I/O (Internal).
Result<std::vector<CacheEntry>> ListCache(const std::filesystem::path& cache_dir);

// Removes every cache entry and stale temp file; returns the bytes freed.
// Callers must not run it while a build is using `cache_dir` (a build in its
// base step would lose its temp file and fail cleanly).
Result<uint64_t> PruneCache(const std::filesystem::path& cache_dir);

}  // namespace warren

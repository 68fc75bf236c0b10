#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "image/builder.h"
#include "image/recipe.h"
#include "ops/op_registry.h"
#include "store/store.h"
#include "sys/runner.h"

namespace warren {

// A VM that uses an image (the VM subsystem answers; see
// ImageRegistry::Options).
struct ImageUser {
  std::string vm;
  bool running = false;
};

// A registered image as the store indexes it. `manifest` is the image's
// manifest.json: name, created_ms, source ({type: "recipe", recipe, default} or
// {type: "files", kernel, initrd, rootfs, rootfs_from}), cmdline, parts
// ({kernel|initrd|rootfs: {file, bytes, sha256}}), facts.
struct ImageInfo {
  std::string name;
  int64_t created_ms = 0;
  std::string state;  // "ready", or "missing" (record found without its directory)
  std::filesystem::path dir;
  nlohmann::json manifest;
};
// Stable names: name, created_ms, state, dir, manifest.
nlohmann::json ImageInfoToJson(const ImageInfo& info);

// Whether the image's guest serves warren's guest agent (vm/guest_agent.h), so
// its VMs can be re-identified after a restore: facts.guest_agent is true
// (images built by warren's builder; `image register --guest-agent`).
// Images recorded before the fact existed have none: false.
bool ImageHasGuestAgent(const nlohmann::json& manifest);

// `warren image register`: existing files, copied in. Paths must be absolute
// and readable by the daemon (it opens them, not the client).
struct RegisterRequest {
  std::string name;
  std::filesystem::path kernel, rootfs, initrd;  // initrd optional (empty)
  std::string cmdline;                           // empty = DefaultCmdline(DefaultRecipe())
  // Promote sets these: the manifest's source ({type: "promoted", vm, image})
  // and the facts carried over from the VM's image. Empty: {type: "files", ...}.
  nlohmann::json source;
  nlohmann::json facts;
};

// Image names: 1..63 of [a-z0-9-], not starting or ending with '-' (a DNS
// label, as VM hostnames derive from them). InvalidArgument naming the rule
// otherwise.
Status ValidateImageName(std::string_view name);

// The checks `register` applies to each file (exposed for tests and the CLI's
// messages). Errors (InvalidArgument) name the role, the path and the problem:
// missing, not a regular file, unreadable, size out of range, wrong magic.
//   kernel: 1 MiB..256 MiB, bzImage ("HdrS" at 0x202) or ELF.
//   rootfs: >= 1 MiB, ext4 superblock magic 0xEF53 at 1024+56, or a tar
//           archive (ustar header, or gzip/xz/zstd/bzip2 named *.tar.* /
//           *.tgz).
//   initrd: gzip, zstd, lz4, xz, bzip2 or a newc cpio ("070701") archive.
enum class RootfsKind { kExt4, kTarball };
Status CheckKernelFile(const std::filesystem::path& path);
Result<RootfsKind> CheckRootfsFile(const std::filesystem::path& path);
Status CheckInitrdFile(const std::filesystem::path& path);

// The seed's image registry: BuildImage, RegisterImage and DeleteImage,
// serialised by `imageOpsMu`, plus the in-flight build registry (builds are
// ops of kind "image.build" in the OpRegistry).
//
// On disk: images_dir/<name>/{vmlinuz, initrd.img, rootfs.ext4, manifest.json}
// indexed by the store's `images` table. Work happens in
// images_dir/.staging/<name>-<token>/ and is published by one rename of that
// directory followed by one store transaction; the store row is the commit
// point. Construction recovers from a crash: every .staging entry is removed,
// an image directory without a store row (publish or delete interrupted) is
// removed, and a row without its directory is marked "missing".
//
// Thread-safety: thread-safe. `image_ops_mu_` (rank kRegistry, after VM locks,
// before leaf locks) covers only name reservation, the publish rename + store
// transaction, and the delete rename + store transaction; builds, copies and
// checksums run without it.
class ImageRegistry {
 public:
  struct Options {
    std::filesystem::path images_dir;
    std::filesystem::path cache_dir;  // build step cache (ListCache / PruneCache)
    // A build running longer (by the Clock) fails with DeadlineExceeded.
    std::chrono::seconds build_timeout{1800};
    // VMs using an image. Called with imageOpsMu held, so it may take leaf
    // locks only. The VM subsystem wires it; the default reports none.
    std::function<std::vector<ImageUser>(std::string_view image)> users = [](std::string_view) {
      return std::vector<ImageUser>();
    };
    // Told when an image is published ("created", the image as image.inspect
    // shows it) or deleted ("deleted", only the name set). Called with imageOpsMu
    // held (so in order per name): it may take leaf locks only, must be quick.
    std::function<void(std::string_view action, const ImageInfo& image)> on_change;
  };

  // Seams must outlive the registry; the OpRegistry must be shut down (its
  // bodies joined) before the registry is destroyed. Recovery errors (I/O,
  // store) are returned.
  static Result<std::unique_ptr<ImageRegistry>> Open(Options options, Store* store, OpRegistry* ops,
                                                     ImageBuilder* builder, Runner* runner,
                                                     Clock* clock);

  // Starts a build op (kind "image.build", target `name`) and returns its id.
  // The op's result is ImageInfoToJson of the published image. Refused before
  // starting: bad name (InvalidArgument); a build or register of `name` in
  // flight (AlreadyExists "a build of NAME is already running (op-…)"); an
  // existing image (AlreadyExists: remove it first with `warren image rm`); a
  // cache prune running (FailedPrecondition). `recipe_text` is recorded in the
  // manifest ("" = the built-in default).
  Result<std::string> BuildImage(std::string name, Recipe recipe, std::string recipe_text)
      EXCLUDES(image_ops_mu_);

  // Validates the files, copies them into staging (a rootfs tarball is
  // extracted with tar and made into ext4 with `mkfs.ext4 -d`), checksums and
  // publishes. Runs on the caller's thread; `stop` aborts and rolls back.
  Result<ImageInfo> RegisterImage(const RegisterRequest& req, std::stop_token stop)
      EXCLUDES(image_ops_mu_);

  // Removes image `name`. Refused (FailedPrecondition, naming the VMs) while a
  // VM uses it, unless `force` and none of them is running. NotFound if absent.
  Status DeleteImage(std::string_view name, bool force) EXCLUDES(image_ops_mu_);

  Result<std::vector<ImageInfo>> List();  // oldest first
  Result<ImageInfo> Get(std::string_view name);

  Result<std::vector<CacheEntry>> ListCache();
  // Frees the build cache; FailedPrecondition while a build runs.
  Result<uint64_t> PruneCache() EXCLUDES(image_ops_mu_);

  // How many names have a build or register in flight (imageBuildOps).
  size_t InFlightCount() EXCLUDES(image_ops_mu_);

 private:
  ImageRegistry(Options options, Store* store, OpRegistry* ops, ImageBuilder* builder,
                Runner* runner, Clock* clock);
  Status Recover();
  // Reserves `name` for `what` ("op-…" or "register"). Errors as BuildImage.
  Status ReserveLocked(const std::string& name, const std::string& what) REQUIRES(image_ops_mu_);
  void Release(const std::string& name) EXCLUDES(image_ops_mu_);
  Result<nlohmann::json> RunBuild(const std::string& name, const Recipe& recipe,
                                  const std::string& recipe_text, OpContext& ctx)
      EXCLUDES(image_ops_mu_);
  Status StageFiles(const RegisterRequest& req, RootfsKind kind,
                    const std::filesystem::path& staging, std::stop_token stop);
  // Checksums the parts in `staging`, writes manifest.json, renames the
  // directory into place and inserts the store row, all-or-nothing.
  Result<ImageInfo> Publish(const std::string& name, const std::filesystem::path& staging,
                            nlohmann::json source, std::string cmdline, nlohmann::json facts,
                            std::stop_token stop) EXCLUDES(image_ops_mu_);
  std::filesystem::path NewStagingDir(const std::string& name, const std::string& token);
  ImageInfo InfoFromRecord(const ImageRecord& r) const;

  // Immutable after construction.
  const Options options_;
  std::filesystem::path staging_root_;
  Store* const store_;
  OpRegistry* const ops_;
  ImageBuilder* const builder_;
  Runner* const runner_;
  Clock* const clock_;

  Mutex image_ops_mu_{LockRank::kRegistry, "imageOpsMu"};
  // imageBuildOps: name → "op-…" for builds, "register" for registers.
  std::map<std::string, std::string, std::less<>> in_flight_ GUARDED_BY(image_ops_mu_);
  bool pruning_ GUARDED_BY(image_ops_mu_) = false;
  uint64_t next_token_ GUARDED_BY(image_ops_mu_) = 0;
};

}  // namespace warren

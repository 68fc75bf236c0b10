#include "image/registry.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "image/digest.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

constexpr char kStagingDirName[] = ".staging";
constexpr auto kCopyTimeout = std::chrono::minutes(30);

// The canonical part files of a published image, by manifest role.
struct Part {
  const char* role;
  const char* file;
  bool optional;
};
constexpr Part kParts[] = {
    {"kernel", "vmlinuz", false},
    {"initrd", "initrd.img", true},
    {"rootfs", "rootfs.ext4", false},
};

// Removes `dir` (best effort: recovery retries at the next start).
void RemoveTree(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) spdlog::warn("images: cannot remove {}: {}", dir.string(), ec.message());
}

// Runs `fn` at scope exit.
template <typename Fn>
class Cleanup {
 public:
  explicit Cleanup(Fn fn) : fn_(std::move(fn)) {}
  ~Cleanup() { fn_(); }
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;

 private:
  Fn fn_;
};

// Forwards builder progress to the op, leaving the last 10% for checksums and
// the publish step.
class OpProgress final : public BuildProgress {
 public:
  explicit OpProgress(OpContext& ctx) : ctx_(ctx) {}
  void Step(std::string name, double fraction) override {
    ctx_.Progress(std::move(name), fraction * 0.9);
  }
  void Log(std::string line) override { ctx_.Log(std::move(line)); }

 private:
  OpContext& ctx_;
};

// A stop token that fires when `parent` does or when `timeout` of Clock time
// has passed (expired() tells which). Polls the Clock, the seam tests move.
class Deadline {
 public:
  Deadline(Clock* clock, std::chrono::seconds timeout, std::stop_token parent)
      : forward_(parent, [this] { source_.request_stop(); }),
        timer_([this, clock, end = clock->Monotonic() + timeout](std::stop_token t) {
          while (!t.stop_requested() && !source_.stop_requested()) {
            if (clock->Monotonic() >= end) {
              expired_ = true;
              source_.request_stop();
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }) {}
  std::stop_token token() const { return source_.get_token(); }
  bool expired() const { return expired_; }

 private:
  std::stop_source source_;
  std::atomic<bool> expired_{false};
  std::stop_callback<std::function<void()>> forward_;
  std::jthread timer_;  // last: joined first on destruction
};

// Moves a file the builder produced to its canonical name inside `staging`.
Status MoveInto(const fs::path& from, const fs::path& to) {
  if (from.empty() || from == to) return Status::Ok();
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) return Internal("move " + from.string() + " to " + to.string() + ": " + ec.message());
  return Status::Ok();
}

// Drops whatever else the builder left in `staging` (scratch trees, logs), so
// only the parts are published.
void KeepOnlyParts(const fs::path& staging) {
  std::error_code ec;
  std::vector<fs::path> extra;
  for (const auto& e : fs::directory_iterator(staging, ec)) {
    bool part = false;
    for (const Part& p : kParts) part = part || e.path().filename() == p.file;
    if (!part) extra.push_back(e.path());
  }
  for (const fs::path& p : extra) RemoveTree(p);
}

Status WriteFile(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return Internal("write " + path.string() + " failed");
  return Status::Ok();
}

}  // namespace

bool ImageHasGuestAgent(const nlohmann::json& manifest) {
  if (!manifest.is_object()) return false;
  auto facts = manifest.find("facts");
  if (facts == manifest.end() || !facts->is_object()) return false;
  auto agent = facts->find("guest_agent");
  return agent != facts->end() && agent->is_boolean() && agent->get<bool>();
}

nlohmann::json ImageInfoToJson(const ImageInfo& info) {
  return {{"name", info.name},
          {"created_ms", info.created_ms},
          {"state", info.state},
          {"dir", info.dir.string()},
          {"manifest", info.manifest}};
}

ImageRegistry::ImageRegistry(Options options, Store* store, OpRegistry* ops, ImageBuilder* builder,
                             Runner* runner, Clock* clock)
    : options_(std::move(options)),
      staging_root_(options_.images_dir / kStagingDirName),
      store_(store),
      ops_(ops),
      builder_(builder),
      runner_(runner),
      clock_(clock) {}

Result<std::unique_ptr<ImageRegistry>> ImageRegistry::Open(Options options, Store* store,
                                                           OpRegistry* ops, ImageBuilder* builder,
                                                           Runner* runner, Clock* clock) {
  std::unique_ptr<ImageRegistry> r(
      new ImageRegistry(std::move(options), store, ops, builder, runner, clock));
  RETURN_IF_ERROR(r->Recover());
  return r;
}

Status ImageRegistry::Recover() {
  std::error_code ec;
  fs::create_directories(staging_root_, ec);
  if (ec) return Internal("create " + staging_root_.string() + ": " + ec.message());
  // Builds, registers and deletes a crash interrupted.
  for (const auto& e : fs::directory_iterator(staging_root_, ec)) {
    spdlog::info("images: removing staging debris {}", e.path().string());
    RemoveTree(e.path());
  }
  ASSIGN_OR_RETURN(std::vector<ImageRecord> records, store_->ListImages());
  std::map<std::string, const ImageRecord*, std::less<>> by_name;
  for (const ImageRecord& r : records) by_name[r.name] = &r;
  for (const auto& e : fs::directory_iterator(options_.images_dir, ec)) {
    std::string name = e.path().filename().string();
    if (!e.is_directory() || !ValidateImageName(name).ok() || by_name.count(name)) continue;
    // The store row is the commit point: a directory without one was never
    // published (or was being deleted).
    spdlog::warn("images: removing unpublished image directory {}", e.path().string());
    RemoveTree(e.path());
  }
  for (const ImageRecord& r : records) {
    if (r.state != "ready" || fs::exists(options_.images_dir / r.name, ec)) continue;
    spdlog::warn("images: image {} has no directory under {}; marked missing", r.name,
                 options_.images_dir.string());
    RETURN_IF_ERROR(
        store_->Transaction([&](Tx& tx) { return tx.SetImageState(r.name, "missing"); }));
  }
  return Status::Ok();
}

Status ImageRegistry::ReserveLocked(const std::string& name, const std::string& what) {
  if (auto it = in_flight_.find(name); it != in_flight_.end()) {
    if (it->second == "register") {
      return AlreadyExists("image \"" + name + "\" is being registered right now");
    }
    return AlreadyExists("a build of " + name + " is already running (" + it->second +
                         "); follow it with `warren op wait " + it->second + "`");
  }
  if (pruning_) {
    return FailedPrecondition("the image cache is being pruned; retry when it is done");
  }
  Result<ImageRecord> existing = store_->GetImage(name);
  std::error_code ec;
  if (existing.ok() || fs::exists(options_.images_dir / name, ec)) {
    return AlreadyExists("image \"" + name + "\" already exists; remove it first with `warren " +
                         "image rm " + name + "` or choose another name");
  }
  if (existing.error().code() != Code::kNotFound) return existing.error();
  in_flight_[name] = what;
  return Status::Ok();
}

void ImageRegistry::Release(const std::string& name) {
  MutexLock lock(&image_ops_mu_);
  in_flight_.erase(name);
}

fs::path ImageRegistry::NewStagingDir(const std::string& name, const std::string& token) {
  return staging_root_ / (name + "-" + token);
}

Result<std::string> ImageRegistry::BuildImage(std::string name, Recipe recipe,
                                              std::string recipe_text) {
  RETURN_IF_ERROR(ValidateImageName(name));
  if (builder_ == nullptr) return FailedPrecondition("this daemon has no image builder");
  MutexLock lock(&image_ops_mu_);
  RETURN_IF_ERROR(ReserveLocked(name, "starting"));
  // Started under the lock so the reservation carries the op id before the
  // body (which reads it for its staging directory) can look.
  Result<std::string> id = ops_->Start(
      "image.build", name,
      [this, name, recipe = std::move(recipe), text = std::move(recipe_text)](
          OpContext& ctx) -> Result<nlohmann::json> { return RunBuild(name, recipe, text, ctx); });
  if (!id.ok()) {
    in_flight_.erase(name);
    return id.error();
  }
  in_flight_[name] = *id;
  return *id;
}

Result<nlohmann::json> ImageRegistry::RunBuild(const std::string& name, const Recipe& recipe,
                                               const std::string& recipe_text, OpContext& ctx) {
  std::string op_id;
  {
    MutexLock lock(&image_ops_mu_);
    op_id = in_flight_[name];
  }
  const fs::path staging = NewStagingDir(name, op_id);
  Cleanup cleanup([&] {
    RemoveTree(staging);
    Release(name);
  });
  std::error_code ec;
  fs::create_directories(staging, ec);
  if (ec) return Internal("create " + staging.string() + ": " + ec.message());
  OpProgress progress(ctx);
  Deadline deadline(clock_, options_.build_timeout, ctx.stop());
  Result<BuiltImage> result =
      builder_->Build(recipe, staging, options_.cache_dir, progress, deadline.token());
  if (!result.ok() && deadline.expired()) {
    return DeadlineExceeded("image build of " + name + " took longer than " +
                            std::to_string(options_.build_timeout.count()) +
                            " s (images.build_timeout_s); nothing was registered");
  }
  ASSIGN_OR_RETURN(BuiltImage built, std::move(result));
  RETURN_IF_ERROR(MoveInto(built.kernel, staging / "vmlinuz"));
  if (!built.initrd.empty() && fs::exists(built.initrd, ec)) {
    RETURN_IF_ERROR(MoveInto(built.initrd, staging / "initrd.img"));
  }
  RETURN_IF_ERROR(MoveInto(built.rootfs, staging / "rootfs.ext4"));
  KeepOnlyParts(staging);
  ctx.Progress("checksum", 0.9);
  nlohmann::json source = {{"type", "recipe"},
                           {"recipe", recipe_text},
                           {"default", recipe_text.empty()},
                           {"cache_key", CacheKey("image", recipe)}};
  ASSIGN_OR_RETURN(ImageInfo info, Publish(name, staging, std::move(source), built.cmdline,
                                           built.facts, ctx.stop()));
  ctx.Progress("published", 1.0);
  spdlog::info("images: built {} ({})", name, op_id);
  return ImageInfoToJson(info);
}

Result<ImageInfo> ImageRegistry::RegisterImage(const RegisterRequest& req, std::stop_token stop) {
  RETURN_IF_ERROR(ValidateImageName(req.name));
  RETURN_IF_ERROR(CheckKernelFile(req.kernel));
  ASSIGN_OR_RETURN(RootfsKind kind, CheckRootfsFile(req.rootfs));
  if (!req.initrd.empty()) RETURN_IF_ERROR(CheckInitrdFile(req.initrd));
  std::string token;
  {
    MutexLock lock(&image_ops_mu_);
    RETURN_IF_ERROR(ReserveLocked(req.name, "register"));
    token = "register-" + std::to_string(next_token_++);
  }
  const fs::path staging = NewStagingDir(req.name, token);
  Cleanup cleanup([&] {
    RemoveTree(staging);
    Release(req.name);
  });
  RETURN_IF_ERROR(StageFiles(req, kind, staging, stop));
  nlohmann::json source = req.source;
  if (source.is_null()) {
    source = {{"type", "files"},
              {"kernel", req.kernel.string()},
              {"initrd", req.initrd.string()},
              {"rootfs", req.rootfs.string()},
              {"rootfs_from", kind == RootfsKind::kExt4 ? "ext4" : "tarball"}};
  }
  std::string cmdline = req.cmdline.empty() ? DefaultCmdline(DefaultRecipe()) : req.cmdline;
  ASSIGN_OR_RETURN(ImageInfo info,
                   Publish(req.name, staging, std::move(source), cmdline,
                           req.facts.is_null() ? nlohmann::json::object() : req.facts, stop));
  spdlog::info("images: registered {} from {}", req.name, req.kernel.string());
  return info;
}

Status ImageRegistry::StageFiles(const RegisterRequest& req, RootfsKind kind,
                                 const fs::path& staging, std::stop_token stop) {
  std::error_code ec;
  fs::create_directories(staging, ec);
  if (ec) return Internal("create " + staging.string() + ": " + ec.message());
  // cp keeps holes (ext4 images are mostly sparse) and can be cancelled.
  auto copy = [&](const fs::path& from, const fs::path& to) -> Status {
    RunSpec spec;
    spec.argv = {"cp", "--reflink=auto", "--sparse=always", from.string(), to.string()};
    spec.timeout = kCopyTimeout;
    return RunAndCheck(*runner_, spec, stop).status();
  };
  RETURN_IF_ERROR(copy(req.kernel, staging / "vmlinuz"));
  if (!req.initrd.empty()) RETURN_IF_ERROR(copy(req.initrd, staging / "initrd.img"));
  if (kind == RootfsKind::kExt4) return copy(req.rootfs, staging / "rootfs.ext4");

  // A tarball: extract (tar detects the compression), then build the ext4
  // from the directory; no loop mounts.
  const fs::path root = staging / "root";
  fs::create_directories(root, ec);
  if (ec) return Internal("create " + root.string() + ": " + ec.message());
  RunSpec tar;
  tar.argv = {"tar", "--numeric-owner", "-xpf", req.rootfs.string(), "-C", root.string()};
  tar.timeout = kCopyTimeout;
  RETURN_IF_ERROR(
      RunAndCheck(*runner_, tar, stop).status().Annotate("rootfs " + req.rootfs.string()));
  uint64_t bytes = 0, entries = 0;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    ++entries;
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) bytes += it->file_size(ec);
  }
  // Room for metadata and a little growth; VMs get their own larger disks.
  uint64_t mib = std::max<uint64_t>(64, (bytes + entries * 4096) * 5 / 4 / (1 << 20) + 64);
  RunSpec mkfs;
  mkfs.argv = {"mkfs.ext4",
               "-q",
               "-F",
               "-L",
               "root",
               "-d",
               root.string(),
               (staging / "rootfs.ext4").string(),
               std::to_string(mib) + "M"};
  mkfs.timeout = kCopyTimeout;
  RETURN_IF_ERROR(RunAndCheck(*runner_, mkfs, stop).status());
  RemoveTree(root);
  return Status::Ok();
}

Result<ImageInfo> ImageRegistry::Publish(const std::string& name, const fs::path& staging,
                                         nlohmann::json source, std::string cmdline,
                                         nlohmann::json facts, std::stop_token stop) {
  nlohmann::json parts = nlohmann::json::object();
  std::error_code ec;
  for (const Part& p : kParts) {
    fs::path file = staging / p.file;
    if (!fs::exists(file, ec)) {
      if (p.optional) continue;
      return Internal("image " + name + ": the build produced no " + p.role);
    }
    if (stop.stop_requested()) return Cancelled("image " + name + ": cancelled");
    ASSIGN_OR_RETURN(std::string sha, Sha256FileHex(file));
    parts[p.role] = {{"file", p.file}, {"bytes", fs::file_size(file, ec)}, {"sha256", sha}};
  }
  ImageRecord record;
  record.name = name;
  record.created_ms = clock_->NowUnixMillis();
  nlohmann::json manifest = {
      {"name", name},     {"created_ms", record.created_ms},
      {"source", source}, {"cmdline", cmdline},
      {"parts", parts},   {"facts", facts.is_null() ? nlohmann::json::object() : facts}};
  record.manifest_json = manifest.dump();
  RETURN_IF_ERROR(WriteFile(staging / "manifest.json", manifest.dump(2) + "\n"));

  const fs::path dest = options_.images_dir / name;
  MutexLock lock(&image_ops_mu_);
  if (stop.stop_requested()) return Cancelled("image " + name + ": cancelled before publishing");
  fs::rename(staging, dest, ec);
  if (ec) return Internal("publish " + dest.string() + ": " + ec.message());
  if (Status s = store_->InsertImage(record); !s.ok()) {
    fs::rename(dest, staging, ec);  // back to staging, which the caller removes
    if (ec) spdlog::warn("images: cannot unpublish {}: {}", dest.string(), ec.message());
    return s;
  }
  ImageInfo info = InfoFromRecord(record);
  // Under imageOpsMu, so observers see created/deleted of one name in order.
  if (options_.on_change) options_.on_change("created", info);
  return info;
}

Status ImageRegistry::DeleteImage(std::string_view name, bool force) {
  RETURN_IF_ERROR(ValidateImageName(name));
  fs::path trash;
  {
    MutexLock lock(&image_ops_mu_);
    if (auto it = in_flight_.find(name); it != in_flight_.end()) {
      return FailedPrecondition("image \"" + std::string(name) + "\" is being created (" +
                                it->second + "); cancel it with `warren op cancel`");
    }
    RETURN_IF_ERROR(store_->GetImage(name).status());
    std::vector<ImageUser> users = options_.users(name);
    std::string all, running;
    for (const ImageUser& u : users) {
      all += (all.empty() ? "" : ", ") + u.vm;
      if (u.running) running += (running.empty() ? "" : ", ") + u.vm;
    }
    if (!users.empty() && !force) {
      return FailedPrecondition("image \"" + std::string(name) + "\" is used by VM " + all +
                                "; delete those VMs first, or pass --force (allowed only while "
                                "none of them is running)");
    }
    if (!running.empty()) {
      return FailedPrecondition("image \"" + std::string(name) + "\" is used by running VM " +
                                running +
                                "; stop it first (--force never removes an image "
                                "under a running VM)");
    }
    RETURN_IF_ERROR(store_->DeleteImage(name));
    if (options_.on_change) {
      ImageInfo gone;
      gone.name = name;
      options_.on_change("deleted", gone);
    }
    // Out of sight in one rename; the slow removal happens unlocked (and at
    // the next start if the daemon dies first).
    trash = NewStagingDir(std::string(name), "rm-" + std::to_string(next_token_++));
    std::error_code ec;
    fs::rename(options_.images_dir / name, trash, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
      spdlog::warn("images: cannot move {} aside: {}", name, ec.message());
    }
  }
  RemoveTree(trash);
  spdlog::info("images: removed {}", name);
  return Status::Ok();
}

ImageInfo ImageRegistry::InfoFromRecord(const ImageRecord& r) const {
  ImageInfo info{r.name, r.created_ms, r.state, options_.images_dir / r.name,
                 nlohmann::json::parse(r.manifest_json, nullptr,
                                       /*allow_exceptions=*/false)};
  return info;
}

Result<std::vector<ImageInfo>> ImageRegistry::List() {
  ASSIGN_OR_RETURN(std::vector<ImageRecord> records, store_->ListImages());
  std::vector<ImageInfo> out;
  for (const ImageRecord& r : records) out.push_back(InfoFromRecord(r));
  return out;
}

Result<ImageInfo> ImageRegistry::Get(std::string_view name) {
  RETURN_IF_ERROR(ValidateImageName(name));
  ASSIGN_OR_RETURN(ImageRecord r, store_->GetImage(name));
  return InfoFromRecord(r);
}

Result<std::vector<CacheEntry>> ImageRegistry::ListCache() {
  return warren::ListCache(options_.cache_dir);
}

Result<uint64_t> ImageRegistry::PruneCache() {
  {
    MutexLock lock(&image_ops_mu_);
    for (const auto& [name, what] : in_flight_) {
      if (what != "register") {
        return FailedPrecondition("a build of " + name + " is running (" + what +
                                  "); prune the cache after it ends");
      }
    }
    if (pruning_) return FailedPrecondition("the image cache is already being pruned");
    pruning_ = true;
  }
  Result<uint64_t> freed = warren::PruneCache(options_.cache_dir);
  MutexLock lock(&image_ops_mu_);
  pruning_ = false;
  return freed;
}

size_t ImageRegistry::InFlightCount() {
  MutexLock lock(&image_ops_mu_);
  return in_flight_.size();
}

}  // namespace warren

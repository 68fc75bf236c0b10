#include "image/builder_steps.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

#include "image/guest/assets.h"
#include "image/modules.h"
#include "sys/files.h"

namespace warren::build {
namespace {

namespace fs = std::filesystem;

constexpr auto kBaseTimeout = std::chrono::minutes(30);
constexpr auto kStepTimeout = std::chrono::minutes(10);
constexpr int kMaxSymlinks = 40;

std::string_view Asset(std::string_view name) {
  for (const GuestAsset& a : GuestAssets()) {
    if (a.name == name) return a.content;
  }
  CHECK(false && "guest asset missing from the build");
  return {};
}

std::vector<std::string> Split(const fs::path& p) {
  std::vector<std::string> out;
  for (const auto& part : p.relative_path()) {
    if (!part.empty() && part != ".") out.push_back(part.string());
  }
  return out;
}

// Resolves the guest directory `guest_dir` to a host path inside `root`,
// following symlinks as if `root` were "/" and creating missing directories.
Result<fs::path> ResolveDirInRoot(const fs::path& root, const fs::path& guest_dir) {
  std::vector<std::string> pending = Split(guest_dir);
  std::reverse(pending.begin(), pending.end());
  std::vector<std::string> done;
  int links = 0;
  auto host = [&] {
    fs::path p = root;
    for (const std::string& d : done) p /= d;
    return p;
  };
  while (!pending.empty()) {
    std::string part = std::move(pending.back());
    pending.pop_back();
    if (part == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    fs::path next = host() / part;
    std::error_code ec;
    fs::file_status st = fs::symlink_status(next, ec);
    if (fs::is_symlink(st)) {
      if (++links > kMaxSymlinks)
        return InvalidArgument("too many symlinks under " + next.string());
      fs::path target = fs::read_symlink(next, ec);
      if (ec) return Internal("readlink " + next.string() + ": " + ec.message());
      if (target.is_absolute()) done.clear();
      std::vector<std::string> t = Split(target);
      pending.insert(pending.end(), t.rbegin(), t.rend());
      continue;
    }
    if (!fs::exists(st)) {
      fs::create_directory(next, ec);
      if (ec) return Internal("mkdir " + next.string() + ": " + ec.message());
    } else if (!fs::is_directory(st)) {
      return FailedPrecondition(next.string() + " is not a directory");
    }
    done.push_back(std::move(part));
  }
  return host();
}

Result<fs::path> HostPathFor(const fs::path& root, std::string_view guest_path) {
  fs::path g(guest_path);
  if (!g.is_absolute() || !g.has_filename()) {
    return InvalidArgument("guest path \"" + std::string(guest_path) + "\" must be absolute");
  }
  ASSIGN_OR_RETURN(fs::path dir, ResolveDirInRoot(root, g.parent_path()));
  fs::path target = dir / g.filename();
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(target, ec))) fs::remove(target, ec);
  return target;
}

RunSpec ChrootSpec(const Context& ctx, const std::vector<std::string>& argv) {
  RunSpec spec;
  spec.argv = {"chroot", ctx.root.string()};
  spec.argv.insert(spec.argv.end(), argv.begin(), argv.end());
  spec.inherit_env = false;
  spec.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
              "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive"};
  spec.timeout = kStepTimeout;
  return spec;
}

Status RemoveMatching(const fs::path& dir, std::string_view prefix) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::Ok();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) fs::remove(e.path(), ec);
  }
  return Status::Ok();
}

std::string UniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  return std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

}  // namespace

std::string MinimalInittab(SshServer server) {
  // In the foreground so init can respawn it. Dropbear reads the host key the
  // daemon converted into the seed; keys only (-s). It runs under warren-sshd,
  // which starts it again at once when the agent ends it for a clone's new
  // key (OpenSSH reloads on SIGHUP, keeping its pid: init runs it directly).
  std::string sshd = server == SshServer::kDropbear
                         ? "/usr/lib/warren/warren-sshd /usr/sbin/dropbear -F -E -s -p 22 -r "
                           "/run/warren/seed/dropbear_ed25519_host_key"
                         : "/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config";
  std::string inittab(Asset("inittab"));
  size_t at = inittab.find("@SSHD@", inittab.find("::respawn:"));
  CHECK(at != std::string::npos && "inittab asset lost its @SSHD@ respawn line");
  return inittab.replace(at, 6, sshd);
}

Status WriteInRoot(const fs::path& root, std::string_view guest_path, std::string_view content,
                   uint32_t mode) {
  ASSIGN_OR_RETURN(fs::path target, HostPathFor(root, guest_path));
  {
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) return Internal("cannot write " + target.string());
  }
  if (::chmod(target.c_str(), mode) != 0) return ErrnoError("chmod " + target.string(), errno);
  return Status::Ok();
}

Status SymlinkInRoot(const fs::path& root, std::string_view guest_path, std::string_view link) {
  ASSIGN_OR_RETURN(fs::path target, HostPathFor(root, guest_path));
  std::error_code ec;
  fs::remove(target, ec);
  fs::create_symlink(fs::path(link), target, ec);
  if (ec) return Internal("symlink " + target.string() + ": " + ec.message());
  return Status::Ok();
}

Status RunLogged(Context& ctx, RunSpec spec) {
  std::string partial[2];
  spec.on_output = [&](std::string_view chunk, bool is_stderr) {
    std::string& buf = partial[is_stderr ? 1 : 0];
    buf.append(chunk);
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      ctx.progress.Log(buf.substr(0, nl));
      buf.erase(0, nl + 1);
    }
  };
  Result<RunResult> r = ctx.runner.Run(spec, ctx.stop);
  for (std::string& rest : partial) {
    if (!rest.empty()) ctx.progress.Log(std::move(rest));
  }
  return CheckSuccess(spec, r);
}

Result<fs::path> EnsureBase(Context& ctx) {
  std::string key = CacheKey("base", ctx.recipe);
  fs::path tarball = ctx.cache / ("base-" + key + ".tar");
  std::error_code ec;
  if (fs::is_regular_file(tarball, ec)) {
    ctx.progress.Log("base: cache hit " + tarball.filename().string());
    return tarball;
  }
  fs::path tmp = ctx.cache / ("base-" + key + ".tar.tmp-" + UniqueSuffix());
  std::string include;
  for (const std::string& p : BasePackages(ctx.recipe)) include += (include.empty() ? "" : ",") + p;
  RunSpec spec;
  spec.argv = {"mmdebstrap", "--variant=apt", "--format=tar", "--include=" + include,
               // Documentation is dead weight in a VM image and slows mkfs.
               "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
               "--dpkgopt=path-include=/usr/share/doc/*/copyright",
               "--dpkgopt=path-exclude=/usr/share/locale/*", ctx.recipe.suite, tmp.string()};
  for (const fs::path& src : ctx.apt_sources) spec.argv.push_back(src.string());
  spec.timeout = kBaseTimeout;
  Status st = RunLogged(ctx, spec);
  if (!st.ok()) {
    fs::remove(tmp, ec);
    return st.Annotate("building the base root with mmdebstrap");
  }
  fs::rename(tmp, tarball, ec);
  if (ec) return Internal("publish " + tarball.string() + ": " + ec.message());
  return tarball;
}

Status ExtractBase(Context& ctx, const fs::path& tarball) {
  std::error_code ec;
  fs::create_directories(ctx.root, ec);
  if (ec) return Internal("mkdir " + ctx.root.string() + ": " + ec.message());
  RunSpec spec;
  spec.argv = {"tar", "--numeric-owner", "-xpf", tarball.string(), "-C", ctx.root.string()};
  spec.timeout = kStepTimeout;
  return RunLogged(ctx, spec);
}

Status InstallGuestFiles(Context& ctx) {
  const fs::path& r = ctx.root;
  RETURN_IF_ERROR(RemoveMatching(r / "etc/ssh", "ssh_host_"));
  RETURN_IF_ERROR(RemoveMatching(r / "etc/dropbear", "dropbear_"));
  RETURN_IF_ERROR(RemoveMatching(r / "boot", "initrd.img"));
  RETURN_IF_ERROR(WriteInRoot(r, "/etc/hostname", "warren\n", 0644));
  RETURN_IF_ERROR(WriteInRoot(r, "/etc/resolv.conf", "", 0644));
  RETURN_IF_ERROR(WriteInRoot(r, "/usr/lib/warren/apply-seed", Asset("apply-seed"), 0755));
  RETURN_IF_ERROR(WriteInRoot(r, "/usr/lib/warren/run-user-data", Asset("run-user-data"), 0755));
  RETURN_IF_ERROR(WriteInRoot(r, "/usr/lib/warren/mount-shares", Asset("mount-shares"), 0755));
  RETURN_IF_ERROR(WriteInRoot(r, "/usr/lib/warren/warren-agent", GuestAgentProgram(), 0755));
  RETURN_IF_ERROR(WriteInRoot(r, "/usr/lib/warren/warren-sshd", Asset("warren-sshd"), 0755));
  if (ctx.recipe.ssh_server == SshServer::kOpenssh) {
    RETURN_IF_ERROR(WriteInRoot(r, "/etc/ssh/sshd_config", Asset("sshd_config"), 0644));
  }
  if (ctx.recipe.flavour == Flavour::kMinimal) {
    for (const char* name : {"late", "shutdown"}) {
      RETURN_IF_ERROR(WriteInRoot(r, std::string("/usr/lib/warren/") + name, Asset(name), 0755));
    }
    RETURN_IF_ERROR(WriteInRoot(r, "/etc/inittab", MinimalInittab(ctx.recipe.ssh_server), 0644));
    // The initramfs writes root's authorized_keys; an existing ~/.ssh saves it a mkdir.
    ASSIGN_OR_RETURN(fs::path ssh_dir, ResolveDirInRoot(r, "/root/.ssh"));
    if (::chmod(ssh_dir.c_str(), 0700) != 0) return ErrnoError("chmod " + ssh_dir.string(), errno);
    RETURN_IF_ERROR(WriteInRoot(r, "/etc/acpi/PWRF/00000080", Asset("acpi-power"), 0755));
    for (const char* link : {"/sbin/init", "/sbin/poweroff", "/sbin/reboot", "/sbin/halt"}) {
      RETURN_IF_ERROR(SymlinkInRoot(r, link, "/bin/busybox"));
    }
    // The network tools a user reaches for first (`ping other-vm`), from busybox
    // where the recipe installed no real one (recipes may add iputils-ping etc.).
    for (const char* tool : {"ping", "nslookup", "wget", "nc", "traceroute"}) {
      const std::string name(tool);
      if (fs::exists(r / "usr/bin" / name) || fs::exists(r / "usr/sbin" / name)) continue;
      RETURN_IF_ERROR(SymlinkInRoot(r, "/usr/local/bin/" + name, "/bin/busybox"));
    }
    return Status::Ok();
  }
  const std::string units = "/etc/systemd/system/";
  for (const char* unit :
       {"warren-seed.service", "warren-user-data.service", "warren-agent.service"}) {
    RETURN_IF_ERROR(WriteInRoot(r, units + unit, Asset(unit), 0644));
  }
  RETURN_IF_ERROR(SymlinkInRoot(r, units + "multi-user.target.wants/warren-agent.service",
                                units + "warren-agent.service"));
  // The agent's port is the guest's hvc0, where systemd's getty generator
  // would otherwise start a login prompt that reads the agent's requests.
  RETURN_IF_ERROR(SymlinkInRoot(r, units + "serial-getty@hvc0.service", "/dev/null"));
  RETURN_IF_ERROR(SymlinkInRoot(r, units + "sysinit.target.wants/warren-seed.service",
                                units + "warren-seed.service"));
  return SymlinkInRoot(r, units + "multi-user.target.wants/warren-user-data.service",
                       units + "warren-user-data.service");
}

Status ApplyRecipe(Context& ctx) {
  for (const RecipeFile& f : ctx.recipe.files) {
    RETURN_IF_ERROR(WriteInRoot(ctx.root, f.path, f.content, f.mode));
  }
  for (const auto& argv : ctx.recipe.commands) {
    if (ctx.stop.stop_requested()) return Cancelled("image build cancelled");
    ctx.progress.Log("recipe: running " + argv[0]);
    RETURN_IF_ERROR(RunLogged(ctx, ChrootSpec(ctx, argv)));
  }
  return Status::Ok();
}

Result<std::string> KernelVersion(const Context& ctx) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(ctx.root / "lib/modules", ec)) {
    std::string v = e.path().filename().string();
    if (fs::is_regular_file(ctx.root / "boot" / ("vmlinuz-" + v), ec)) found.push_back(v);
  }
  if (found.size() != 1) {
    return FailedPrecondition(
        "expected exactly one kernel in the image (/boot/vmlinuz-V with "
        "/lib/modules/V), found " +
        std::to_string(found.size()) + "; is linux-image-cloud-amd64 installed?");
  }
  return found[0];
}

Status PruneModules(Context& ctx, const std::string& version) {
  fs::path dir = ctx.root / "lib/modules" / version;
  ASSIGN_OR_RETURN(std::string dep, ReadFileToString(dir / "modules.dep"));
  ASSIGN_OR_RETURN(std::vector<std::string> keep_list,
                   ModuleLoadOrder(dep, MinimalRootModules(), /*skip_missing=*/true));
  std::set<std::string> keep(keep_list.begin(), keep_list.end());
  std::error_code ec;
  std::vector<fs::path> doomed;
  for (const auto& e : fs::recursive_directory_iterator(dir / "kernel", ec)) {
    if (!e.is_regular_file()) continue;
    std::string rel = fs::relative(e.path(), dir, ec).string();
    if (!keep.count(rel)) doomed.push_back(e.path());
  }
  for (const fs::path& p : doomed) fs::remove(p, ec);
  ctx.progress.Log("modules: kept " + std::to_string(keep.size()) + ", removed " +
                   std::to_string(doomed.size()));
  return RunLogged(ctx, ChrootSpec(ctx, {"depmod", "-a", version}));
}

Result<std::vector<std::string>> BuildInitramfs(Context& ctx, const std::string& version,
                                                const fs::path& out) {
  fs::path dir = ctx.staging / "initramfs";
  fs::path mods = ctx.root / "lib/modules" / version;
  std::error_code ec;
  for (const char* sub : {"bin", "dev", "proc", "newroot", "modules"}) {
    fs::create_directories(dir / sub, ec);
    if (ec) return Internal("mkdir " + (dir / sub).string() + ": " + ec.message());
  }
  fs::copy_file(ctx.root / "bin/busybox", dir / "bin/busybox", fs::copy_options::overwrite_existing,
                ec);
  if (ec)
    return FailedPrecondition("the image has no /bin/busybox (busybox-static): " + ec.message());
  // The kernel opens /dev/console for /init's stdio before devtmpfs exists.
  if (::mknod((dir / "dev/console").c_str(), S_IFCHR | 0600, makedev(5, 1)) != 0 &&
      errno != EEXIST) {
    return ErrnoError("mknod initramfs /dev/console (building needs root)", errno);
  }
  ASSIGN_OR_RETURN(std::string dep, ReadFileToString(mods / "modules.dep"));
  ASSIGN_OR_RETURN(std::vector<std::string> order,
                   ModuleLoadOrder(dep, InitramfsModules(), /*skip_missing=*/true));
  std::string order_file;
  std::vector<std::string> names;
  for (const std::string& rel : order) {
    std::string name = ModuleName(rel);
    fs::copy_file(mods / rel, dir / "modules" / (name + ".ko"),
                  fs::copy_options::overwrite_existing, ec);
    if (ec) return Internal("copy module " + rel + ": " + ec.message());
    order_file += name + "\n";
    names.push_back(name);
  }
  RETURN_IF_ERROR(WriteInRoot(dir, "/modules/order", order_file, 0644));
  RETURN_IF_ERROR(WriteInRoot(dir, "/init", Asset("initramfs-init"), 0755));
  if (ctx.recipe.flavour == Flavour::kMinimal) {
    RETURN_IF_ERROR(WriteInRoot(dir, "/early-seed", Asset("early-seed"), 0644));
  }

  std::vector<std::string> entries;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    entries.push_back(fs::relative(e.path(), dir, ec).string());
  }
  std::sort(entries.begin(), entries.end());  // parents sort before children
  RunSpec spec;
  spec.argv = {"cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", "-O", out.string()};
  spec.cwd = dir;
  for (const std::string& e : entries) spec.stdin_data += e + "\n";
  spec.timeout = kStepTimeout;
  RETURN_IF_ERROR(RunLogged(ctx, spec));
  return names;
}

Status MakeRootfs(Context& ctx, const fs::path& out) {
  RunSpec spec;
  spec.argv = {"mkfs.ext4",
               "-q",
               "-F",
               "-L",
               "root",
               "-d",
               ctx.root.string(),
               out.string(),
               std::to_string(ctx.recipe.rootfs_mib) + "M"};
  spec.timeout = kStepTimeout;
  return RunLogged(ctx, spec);
}

}  // namespace warren::build

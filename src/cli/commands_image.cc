// warren image build | register | ls | inspect | rm | cache ls | cache prune
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands_snapshot.h"
#include "cli/context.h"
#include "cli/output.h"

namespace warren::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct BuildArgs {
  std::string name, recipe;
  bool detach = false, verbose = false, snapshot = false;
};

struct RegisterArgs {
  std::string name, kernel, rootfs, initrd, cmdline;
  bool cloud_init = false;
  bool guest_agent = false;
};

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read recipe " + path + ": no such file or unreadable");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// An image as image.inspect / image.register / a build op's result return it.
void PrintImage(const json& info) {
  const json m = info.value("manifest", json::object());
  const json source = m.value("source", json::object());
  const json facts = m.value("facts", json::object());
  Table t({"FIELD", "VALUE"});
  t.AddRow({"name", info.value("name", "")});
  t.AddRow({"state", info.value("state", "")});
  t.AddRow({"created", FormatTime(info.value("created_ms", int64_t{0}))});
  t.AddRow({"dir", info.value("dir", "")});
  std::string src = source.value("type", "");
  if (src == "recipe") src += source.value("default", false) ? " (built-in default)" : "";
  if (src == "files") src += " (rootfs from " + source.value("rootfs_from", "") + ")";
  if (src == "promoted") {
    src += " (from VM " + source.value("vm", "") + ", image " + source.value("image", "") + ")";
  }
  t.AddRow({"source", src});
  t.AddRow({"cmdline", m.value("cmdline", "")});
  for (const auto& [key, value] : facts.items()) {
    t.AddRow({key, value.is_string() ? value.get<std::string>() : value.dump()});
  }
  std::cout << t.Render() << "\n";
  Table parts({"PART", "FILE", "SIZE", "SHA256"});
  const json all_parts = m.value("parts", json::object());  // outlives the loop
  for (const auto& [role, p] : all_parts.items()) {
    parts.AddRow({role, p.value("file", ""), FormatBytes(p.value("bytes", uint64_t{0})),
                  p.value("sha256", "")});
  }
  std::cout << parts.Render();
}

void Build(CliContext& ctx, const BuildArgs& a) {
  json params = {{"name", a.name}};
  if (!a.recipe.empty()) {
    Result<std::string> text = ReadText(a.recipe);
    if (!text) return ctx.Fail(text.error());
    params["recipe"] = *text;
    params["recipe_origin"] = fs::path(a.recipe).filename().string();
  }
  if (!a.snapshot) {
    return StartedOp(ctx, ctx.Call("image.build", params),
                     {"building image " + a.name, "image", PrintImage, a.detach, a.verbose});
  }
  // --snapshot: the build, then image.snapshot of it (named as the image).
  if (a.detach) return ctx.Fail(InvalidArgument("--snapshot waits for the build; drop --detach"));
  Result<json> build = ctx.Call("image.build", params);
  if (!build) return ctx.Fail(build.error());
  if (!ctx.opts.json) std::cerr << "building image " << a.name << "\n";
  if (Status st = WaitForOp(ctx, build->value("op", ""), a.verbose, nullptr); !st.ok())
    return ctx.Fail(st);
  SnapshotImage(ctx, a.name, a.name, false, a.verbose);
}

void Register(CliContext& ctx, const RegisterArgs& a) {
  // The daemon opens the files: send absolute paths.
  auto abs = [](const std::string& p) { return p.empty() ? p : fs::absolute(p).string(); };
  json params = {{"name", a.name},
                 {"kernel", abs(a.kernel)},
                 {"rootfs", abs(a.rootfs)},
                 {"initrd", abs(a.initrd)},
                 {"cmdline", a.cmdline}};
  if (a.cloud_init) params["cloud_init"] = true;
  if (a.guest_agent) params["guest_agent"] = true;
  Result<json> r = ctx.Call("image.register", params);
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  PrintImage(*r);
}

void List(CliContext& ctx) {
  Result<json> r = ctx.Call("image.list");
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  Table t({"NAME", "STATE", "SOURCE", "FLAVOUR", "SIZE", "CREATED"});
  for (const auto& i : (*r)["images"]) {
    t.AddRow({i.value("name", ""), i.value("state", ""), i.value("source", ""),
              i.value("flavour", ""), FormatBytes(i.value("bytes", uint64_t{0})),
              FormatTime(i.value("created_ms", int64_t{0}))});
  }
  std::cout << t.Render();
}

void Inspect(CliContext& ctx, const std::string& name) {
  Result<json> r = ctx.Call("image.inspect", {{"name", name}});
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  PrintImage(*r);
}

void Remove(CliContext& ctx, const std::string& name, bool force) {
  Result<json> r = ctx.Call("image.rm", {{"name", name}, {"force", force}});
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  std::cout << "removed image " << name << "\n";
}

void Promote(CliContext& ctx, const std::string& vm, const std::string& name) {
  Result<json> r = ctx.Call("image.promote", {{"vm", vm}, {"name", name}}, SayWhenWaiting);
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  PrintImage(*r);
}

void CacheList(CliContext& ctx) {
  Result<json> r = ctx.Call("image.cache.list");
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  Table t({"STEP", "KEY", "SIZE", "MODIFIED"});
  for (const auto& e : (*r)["entries"]) {
    t.AddRow({e.value("step", ""), e.value("key", "").substr(0, 16),
              FormatBytes(e.value("bytes", uint64_t{0})),
              FormatTime(e.value("modified_ms", int64_t{0}))});
  }
  std::cout << t.Render() << "total " << FormatBytes(r->value("bytes", uint64_t{0})) << "\n";
}

void CachePrune(CliContext& ctx) {
  Result<json> r = ctx.Call("image.cache.prune");
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  std::cout << "freed " << FormatBytes(r->value("freed_bytes", uint64_t{0})) << "\n";
}

void AddBuild(CLI::App& image, CliContext& ctx) {
  auto a = std::make_shared<BuildArgs>();
  auto* build = image.add_subcommand(
      "build", "Build an image from a TOML recipe (default: the built-in minimal image)");
  build->add_option("NAME", a->name, "Image name (a-z, 0-9, '-'; at most 63)")->required();
  build->add_option("--recipe", a->recipe, "Recipe file (see docs/IMAGES.md)")->type_name("FILE");
  build->add_flag("--detach", a->detach, "Print the op id and return; follow with `op wait`");
  build->add_flag("-v,--verbose", a->verbose, "Stream the build log");
  build->add_flag("--snapshot", a->snapshot,
                  "Then boot it once and keep a snapshot named as the image, so `vm create "
                  "NAME --from IMAGE` starts in about a second");
  build->callback([&ctx, a] { Build(ctx, *a); });
}

void AddRegister(CLI::App& image, CliContext& ctx) {
  auto a = std::make_shared<RegisterArgs>();
  auto* reg = image.add_subcommand(
      "register",
      "Register existing files as an image (copied in; the daemon must be able to read them)");
  reg->add_option("NAME", a->name, "Image name")->required();
  reg->add_option("--kernel", a->kernel, "Linux kernel (bzImage or ELF)")
      ->required()
      ->type_name("FILE");
  reg->add_option("--rootfs", a->rootfs, "Root filesystem: raw ext4, or a tarball (.tar[.gz|.xz])")
      ->required()
      ->type_name("FILE");
  reg->add_option("--initrd", a->initrd, "Initramfs (optional)")->type_name("FILE");
  reg->add_option("--cmdline", a->cmdline, "Kernel command line (default: warren's)");
  reg->add_flag("--cloud-init", a->cloud_init,
                "The image runs cloud-init: VMs of it accept a #cloud-config --user-data");
  reg->add_flag("--guest-agent", a->guest_agent,
                "The image serves warren's guest agent (docs/SNAPSHOTS.md): VMs of it can be "
                "cloned from snapshots");
  reg->callback([&ctx, a] { Register(ctx, *a); });
}

}  // namespace

void AddImageCommands(CLI::App& app, CliContext& ctx) {
  auto* image = app.add_subcommand("image", "Build, register, list and remove guest images");
  image->require_subcommand(1);
  AddBuild(*image, ctx);
  AddImageSnapshotCommand(*image, ctx);
  AddRegister(*image, ctx);
  image->add_subcommand("ls", "List images")->callback([&ctx] { List(ctx); });
  auto name = std::make_shared<std::string>();
  auto* inspect = image->add_subcommand("inspect", "Show an image's manifest");
  inspect->add_option("NAME", *name, "Image name")->required();
  inspect->callback([&ctx, name] { Inspect(ctx, *name); });
  auto force = std::make_shared<bool>(false);
  auto* rm = image->add_subcommand("rm", "Remove an image (refused while VMs use it)");
  rm->add_option("NAME", *name, "Image name")->required();
  rm->add_flag("--force", *force, "Remove even if stopped VMs use it (never under a running VM)");
  rm->callback([&ctx, name, force] { Remove(ctx, *name, *force); });

  auto vm = std::make_shared<std::string>();
  auto* promote = image->add_subcommand(
      "promote", "Turn a stopped VM's disk into a new image (with its image's kernel)");
  promote->add_option("VM", *vm, "A stopped VM")->required();
  promote->add_option("NAME", *name, "New image name")->required();
  promote->callback([&ctx, vm, name] { Promote(ctx, *vm, *name); });

  auto* cache = image->add_subcommand("cache", "The build step cache");
  cache->require_subcommand(1);
  cache->add_subcommand("ls", "List cached build steps")->callback([&ctx] { CacheList(ctx); });
  cache->add_subcommand("prune", "Remove every cached step (refused while a build runs)")
      ->callback([&ctx] { CachePrune(ctx); });
}

}  // namespace warren::cli

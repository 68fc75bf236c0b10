// `warren vm snapshot|restore` and `warren snapshot ls|inspect|rm`.
#include <iostream>

#include "cli/commands_snapshot.h"
#include "cli/context.h"
#include "cli/output.h"

namespace warren::cli {
namespace {

using json = nlohmann::json;

struct SnapshotArgs {
  std::string vm, snapshot;
  bool stop = false, detach = false, verbose = false;
};

void PrintSnapshot(const json& s) {
  Table t({"FIELD", "VALUE"});
  for (const char* key : {"name", "vm", "image", "ip", "mac"}) t.AddRow({key, s.value(key, "")});
  t.AddRow({"cpus", std::to_string(s.value("cpus", 0))});
  t.AddRow({"memory", std::to_string(s.value("memory_mib", 0)) + " MiB"});
  t.AddRow({"size", FormatBytes(s.value("size_bytes", uint64_t{0}))});
  const json files = s.value("files", json::object());  // outlives the loop's items()
  for (const auto& [file, bytes] : files.items())
    t.AddRow({"file " + file, FormatBytes(bytes.get<uint64_t>())});
  t.AddRow({"created", FormatTime(s.value("created_ms", int64_t{0}))});
  t.AddRow({"clones", s.value("agent", false) ? "yes (vm create --from " + s.value("name", "") + ")"
                                              : "no: its guest had no warren agent"});
  if (!s.value("parent", "").empty()) t.AddRow({"backed by snapshot", s.value("parent", "")});
  std::cout << t.Render();
}

void PrintCall(CliContext& ctx, const char* method, const json& params,
               const std::function<void(const json&)>& print) {
  Result<json> r = ctx.Call(method, params, SayWhenWaiting);
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  print(*r);
}

void List(CliContext& ctx) {
  Result<json> r = ctx.Call("snapshot.list");
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  Table t({"NAME", "VM", "IMAGE", "MEMORY", "SIZE", "CREATED"});
  for (const json& s : (*r)["snapshots"]) {
    t.AddRow({s.value("name", ""), s.value("vm", ""), s.value("image", ""),
              std::to_string(s.value("memory_mib", 0)) + " MiB",
              FormatBytes(s.value("size_bytes", uint64_t{0})),
              FormatTime(s.value("created_ms", int64_t{0}))});
  }
  std::cout << t.Render();
}

}  // namespace

void AddVmSnapshotCommands(CLI::App& vm, CliContext& ctx) {
  auto a = std::make_shared<SnapshotArgs>();
  auto* snap = vm.add_subcommand(
      "snapshot", "Snapshot a running VM (memory, devices and disk at one instant)");
  snap->add_option("NAME", a->vm, "VM name")->required();
  snap->add_option("SNAP", a->snapshot, "Snapshot name (default: NAME-YYYYMMDD-HHMMSS)");
  snap->add_flag("--stop", a->stop, "Stop the VM after the snapshot instead of resuming it");
  snap->add_flag("-d,--detach", a->detach, "Print the op id and return at once");
  snap->add_flag("-v,--verbose", a->verbose, "Print the op's log");
  snap->callback([&ctx, a] {
    json params = {{"name", a->vm}, {"stop", a->stop}};
    if (!a->snapshot.empty()) params["snapshot"] = a->snapshot;
    StartedOp(ctx, ctx.Call("vm.snapshot", params),
              {"snapshotting VM " + a->vm, "snapshot", PrintSnapshot, a->detach, a->verbose});
  });
  auto* restore =
      vm.add_subcommand("restore", "Roll a VM back to one of its own snapshots");
  restore->add_option("NAME", a->vm, "VM name")->required();
  restore->add_option("SNAP", a->snapshot, "Snapshot name")->required();
  restore->callback([&ctx, a] {
    PrintCall(ctx, "vm.restore", {{"name", a->vm}, {"snapshot", a->snapshot}},
              [](const json& vm) {
                std::cout << vm.value("name", "") << " restored: " << vm.value("state", "")
                          << " at " << vm.value("ip", "") << "\n";
              });
  });
}

void SnapshotImage(CliContext& ctx, const std::string& image, const std::string& snap,
                   bool detach, bool verbose) {
  json params = {{"name", image}};
  if (!snap.empty()) params["snapshot"] = snap;
  StartedOp(ctx, ctx.Call("image.snapshot", params),
            {"booting and snapshotting image " + image, "snapshot", PrintSnapshot, detach,
             verbose});
}

void AddImageSnapshotCommand(CLI::App& image, CliContext& ctx) {
  auto a = std::make_shared<SnapshotArgs>();
  auto* snap = image.add_subcommand(
      "snapshot", "Boot a VM of an image, snapshot it and remove it: `vm create --from` then "
                  "resumes that snapshot in about a second");
  snap->add_option("IMAGE", a->vm, "Image name")->required();
  snap->add_option("SNAP", a->snapshot, "Snapshot name (default: the image's)");
  snap->add_flag("-d,--detach", a->detach, "Print the op id and return at once");
  snap->add_flag("-v,--verbose", a->verbose, "Print the op's log");
  snap->callback([&ctx, a] { SnapshotImage(ctx, a->vm, a->snapshot, a->detach, a->verbose); });
}

void AddSnapshotCommands(CLI::App& app, CliContext& ctx) {
  auto* snap = app.add_subcommand("snapshot", "List, inspect and delete VM snapshots");
  snap->require_subcommand(1);
  snap->add_subcommand("ls", "List snapshots")->callback([&ctx] { List(ctx); });
  auto name = std::make_shared<std::string>();
  auto* inspect = snap->add_subcommand("inspect", "Show a snapshot");
  inspect->add_option("SNAP", *name, "Snapshot name")->required();
  inspect->callback(
      [&ctx, name] { PrintCall(ctx, "snapshot.inspect", {{"name", *name}}, PrintSnapshot); });
  auto* rm = snap->add_subcommand("rm", "Delete a snapshot (refused while VMs depend on it)");
  rm->add_option("SNAP", *name, "Snapshot name")->required();
  rm->callback([&ctx, name] {
    PrintCall(ctx, "snapshot.delete", {{"name", *name}},
              [](const json& r) { std::cout << "deleted " << r.value("name", "") << "\n"; });
  });
}

}  // namespace warren::cli

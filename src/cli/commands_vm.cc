// warren vm create | ls | inspect | start | stop | restart | rm | logs | egress
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands_publish.h"
#include "cli/commands_snapshot.h"
#include "cli/context.h"
#include "cli/output.h"
#include "rpc/frame.h"

namespace warren::cli {
namespace {

using json = nlohmann::json;

struct CreateArgs {
  std::string name, image, egress, from;
  int cpus = 0, memory_mib = 0, disk_gib = 0;
  bool detach = false, verbose = false;
  // Capabilities (docs/CAPABILITIES.md): files are read here, the daemon checks.
  std::vector<std::string> ssh_key_files, shares;
  std::string user_data_file;
  std::vector<std::string> publish;  // caps.publish
};

Result<std::string> ReadTextFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(std::string("cannot read ") + what + " file " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// vm.create's `caps` from the flags: key files read (every non-comment line of
// each), the script read, share host folders made absolute.
Result<json> CapsFromArgs(const CreateArgs& a) {
  json caps = json::object();
  for (const std::string& file : a.ssh_key_files) {
    ASSIGN_OR_RETURN(std::string text, ReadTextFile(file, "--ssh-key"));
    std::istringstream lines(text);
    size_t before = caps["ssh_key"].size();
    for (std::string line; std::getline(lines, line);) {
      if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
      caps["ssh_key"].push_back(line);
    }
    if (caps["ssh_key"].size() == before) {
      return InvalidArgument("--ssh-key " + file + " holds no public key");
    }
  }
  if (!a.user_data_file.empty()) {
    ASSIGN_OR_RETURN(caps["user_data"], ReadTextFile(a.user_data_file, "--user-data"));
  }
  for (const std::string& share : a.shares) {
    size_t colon = share.find(':');
    if (colon == std::string::npos || colon == 0) {
      return InvalidArgument("--share " + share + ": expected HOST_DIR:GUEST_DIR[:ro]");
    }
    std::error_code ec;
    std::filesystem::path host = std::filesystem::absolute(share.substr(0, colon), ec);
    if (ec) return InvalidArgument("--share " + share + ": " + ec.message());
    caps["share"].push_back(host.lexically_normal().string() + share.substr(colon));
  }
  return caps;
}

struct StopArgs {
  std::string name;
  bool force = false;
  int timeout_s = 30;
};

struct LogsArgs {
  std::string name;
  bool follow = false;
  int64_t tail_bytes = 0;
};

void PrintVm(const json& vm) {
  Table t({"FIELD", "VALUE"});
  for (const char* key : {"name", "state", "ip", "dns_name", "image", "cpus", "memory_mib",
                          "disk_gib", "mac", "tap", "pid", "console_log", "id", "error"}) {
    if (!vm.contains(key)) continue;
    const json& v = vm[key];
    std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    if (text.empty() || (std::string_view(key) == "pid" && text == "0")) continue;
    t.AddRow({key, text});
  }
  if (vm.contains("created_ms")) t.AddRow({"created", FormatTime(vm.value("created_ms", 0L))});
  // started_ms: when the daemon last launched the VM (0 while it is not running).
  if (int64_t started = vm.value("started_ms", int64_t{0}); started > 0) {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    t.AddRow({"started", FormatTime(started)});
    if (vm.value("state", "") == "running") t.AddRow({"uptime", FormatDuration(now - started)});
  }
  if (vm.contains("caps")) {
    for (const auto& [cap, described] : vm["caps"].items()) t.AddRow({"caps." + cap, described.dump()});
  }
  std::cout << t.Render();
}

// The default image is built on first use, with its progress shown, so
// `warren vm create NAME` works on a fresh daemon.
Status EnsureDefaultImage(CliContext& ctx, const std::string& image, bool verbose) {
  Result<json> found = ctx.Call("image.inspect", {{"name", image}});
  if (found.ok() || found.error().code() != Code::kNotFound) return found.status();
  if (!ctx.opts.json) std::cerr << "image " << image << " not found; building it first\n";
  ASSIGN_OR_RETURN(json build, ctx.Call("image.build", {{"name", image}}));
  return WaitForOp(ctx, build.value("op", ""), verbose, nullptr);
}

void Create(CliContext& ctx, const CreateArgs& a) {
  std::string image = a.image;
  if (image.empty() && a.from.empty()) {
    Result<json> status = ctx.Call("daemon.status");
    if (!status) return ctx.Fail(status.error());
    image = (*status)["vm_defaults"].value("image", "default");
    if (Status st = EnsureDefaultImage(ctx, image, a.verbose); !st.ok()) return ctx.Fail(st);
  }
  Result<json> caps = CapsFromArgs(a);
  if (!caps) return ctx.Fail(caps.error());
  json params = {{"name", a.name},     {"image", image},           {"cpus", a.cpus},
                 {"memory_mib", a.memory_mib}, {"disk_gib", a.disk_gib}};
  if (!a.from.empty()) params["from"] = a.from;
  if (!caps->empty()) params["caps"] = *caps;
  if (!a.egress.empty()) params["caps"]["egress"] = a.egress;
  if (!a.publish.empty()) params["caps"]["publish"] = a.publish;
  StartedOp(ctx, ctx.Call("vm.create", params),
            {"creating VM " + a.name, "vm", PrintVm, a.detach, a.verbose});
}

void List(CliContext& ctx) {
  Result<json> r = ctx.Call("vm.list");
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  Table t({"NAME", "STATE", "IP", "IMAGE", "CPUS", "MEMORY", "CREATED"});
  for (const auto& vm : (*r)["vms"]) {
    t.AddRow({vm.value("name", ""), vm.value("state", ""), vm.value("ip", ""),
              vm.value("image", ""), std::to_string(vm.value("cpus", 0)),
              std::to_string(vm.value("memory_mib", 0)) + " MiB",
              FormatTime(vm.value("created_ms", int64_t{0}))});
  }
  std::cout << t.Render();
}

// Says so when a call waits for a VM another call or op holds (`vm.waiting`);
// Ctrl-C ends the CLI, and with it the wait (the daemon sees the disconnect).
// inspect, start: one call, the VM printed.
void CallAndPrint(CliContext& ctx, const char* method, const json& params) {
  Result<json> r = ctx.Call(method, params, SayWhenWaiting);
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  PrintVm(*r);
}

void Stop(CliContext& ctx, const char* method, const StopArgs& a) {
  json params = {{"name", a.name}, {"force", a.force}, {"timeout_s", a.timeout_s}};
  Result<json> r = ctx.Call(method, params, SayWhenWaiting);
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  if (std::string_view(method) == "vm.rm") {
    std::cout << "removed VM " << a.name << "\n";
  } else {
    std::cout << a.name << ": " << r->value("state", "") << "\n";
  }
}

void Logs(CliContext& ctx, const LogsArgs& a) {
  constexpr uint32_t kStream = 1;
  json params = {{"name", a.name}, {"stream", kStream}, {"follow", a.follow},
                 {"tail_bytes", a.tail_bytes}};
  Result<json> r = ctx.Call("vm.logs", params, {},
                            [](uint32_t, uint8_t channel, std::string_view bytes) {
                              if (channel != rpc::kChannelStdout) return;
                              (void)!::write(STDOUT_FILENO, bytes.data(), bytes.size());
                            });
  if (!r) return ctx.Fail(r.error());
}

// `vm egress NAME SPEC`: applied at once when the VM runs.
void AddEgress(CLI::App& vm, CliContext& ctx) {
  auto a = std::make_shared<std::pair<std::string, std::string>>();
  auto* e = vm.add_subcommand("egress", "Change what a VM may reach outside (nat mode)");
  e->add_option("NAME", a->first, "VM name")->required();
  e->add_option("SPEC", a->second, "none, all, or IPv4 ranges like 192.0.2.0/24,10.0.0.0/8")
      ->required();
  e->callback([&ctx, a] {
    Result<json> r = ctx.Call("vm.egress", {{"name", a->first}, {"spec", a->second}},
                              SayWhenWaiting);
    if (!r) return ctx.Fail(r.error());
    if (ctx.opts.json) return PrintJson(*r);
    std::cout << a->first << ": egress " << r->value("egress", "") << "\n";
  });
}

void AddCreate(CLI::App& vm, CliContext& ctx) {
  auto a = std::make_shared<CreateArgs>();
  auto* c = vm.add_subcommand("create", "Create and boot a VM; returns once SSH answers");
  c->add_option("NAME", a->name, "VM name, also its hostname and DNS name (a-z, 0-9, '-')")
      ->required();
  c->add_option("--image", a->image, "Image to boot (default: the daemon's default image, built "
                                     "on first use)");
  c->add_option("--cpus", a->cpus, "vCPUs (default from the config)")->check(CLI::Range(1, 64));
  c->add_option("--memory", a->memory_mib, "Memory in MiB")->check(CLI::Range(128, 65536));
  c->add_option("--disk", a->disk_gib, "Disk size in GiB")->check(CLI::Range(1, 2048));
  c->add_option("--ssh-key", a->ssh_key_files,
                "Public key file to authorize for root beside the daemon's key (repeatable; "
                "nothing is added unless asked)");
  c->add_option("--user-data", a->user_data_file,
                "Script (#!) run once at first boot, or #cloud-config for images with cloud-init; "
                "its exit status shows in `vm inspect`");
  c->add_option("--share", a->shares,
                "HOST_DIR:GUEST_DIR[:ro]: a host folder mounted in the guest over virtiofs; "
                ":ro is enforced on the host (repeatable)");
  c->add_option("--egress", a->egress,
                "nat mode: what the guest may reach outside: none (only the daemon's DNS), all "
                "(the default), or IPv4 ranges like 192.0.2.0/24,10.0.0.0/8");
  AddPublishFlag(*c, a->publish);
  c->add_option("--from", a->from,
                "Clone a snapshot: resume its guest (in about a second) instead of booting, as "
                "a machine of its own (address, MAC, hostname, host key); its image, vCPUs, "
                "memory and disk are the snapshot's");
  c->add_flag("--detach", a->detach, "Print the op id and return; follow with `op wait`");
  c->add_flag("-v,--verbose", a->verbose, "Stream the operation's log");
  c->callback([&ctx, a] { Create(ctx, *a); });
}

void AddStops(CLI::App& vm, CliContext& ctx) {
  auto a = std::make_shared<StopArgs>();
  auto* stop = vm.add_subcommand("stop", "Power a VM down (ACPI), killing it after --timeout");
  stop->add_option("NAME", a->name, "VM name")->required();
  stop->add_flag("--force", a->force, "Kill at once, no graceful power-down");
  stop->add_option("--timeout", a->timeout_s, "Seconds to wait for the guest")
      ->check(CLI::Range(0, 3600));
  stop->callback([&ctx, a] { Stop(ctx, "vm.stop", *a); });
  auto* restart = vm.add_subcommand("restart", "Stop then start a VM");
  restart->add_option("NAME", a->name, "VM name")->required();
  restart->add_option("--timeout", a->timeout_s, "Seconds to wait for the guest to stop")
      ->check(CLI::Range(0, 3600));
  restart->callback([&ctx, a] { Stop(ctx, "vm.restart", *a); });
  auto* rm = vm.add_subcommand("rm", "Delete a VM, its disk and its address");
  rm->add_option("NAME", a->name, "VM name")->required();
  rm->add_flag("--force", a->force, "Delete even if it is running (it is killed)");
  rm->callback([&ctx, a] { Stop(ctx, "vm.rm", *a); });
}

}  // namespace

void AddVmCommands(CLI::App& app, CliContext& ctx) {
  auto* vm = app.add_subcommand("vm", "Create, list, start, stop and delete VMs");
  vm->require_subcommand(1);
  AddCreate(*vm, ctx);
  vm->add_subcommand("ls", "List VMs")->callback([&ctx] { List(ctx); });
  auto name = std::make_shared<std::string>();
  auto* inspect = vm->add_subcommand("inspect", "Show a VM");
  inspect->add_option("NAME", *name, "VM name")->required();
  inspect->callback([&ctx, name] { CallAndPrint(ctx, "vm.inspect", {{"name", *name}}); });
  auto* start = vm->add_subcommand("start", "Boot a stopped VM; returns once SSH answers");
  start->add_option("NAME", *name, "VM name")->required();
  start->callback([&ctx, name] { CallAndPrint(ctx, "vm.start", {{"name", *name}}); });
  AddStops(*vm, ctx);
  AddVmSnapshotCommands(*vm, ctx);
  AddEgress(*vm, ctx);
  AddPublishCommands(*vm, ctx);
  auto logs = std::make_shared<LogsArgs>();
  auto* l = vm->add_subcommand("logs", "Print a VM's serial console log");
  l->add_option("NAME", logs->name, "VM name")->required();
  l->add_flag("-f,--follow", logs->follow, "Keep printing what the guest writes");
  l->add_option("--tail", logs->tail_bytes, "Start this many bytes before the end")
      ->check(CLI::NonNegativeNumber);
  l->callback([&ctx, logs] { Logs(ctx, *logs); });
}

}  // namespace warren::cli

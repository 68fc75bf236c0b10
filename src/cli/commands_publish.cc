// warren vm publish | unpublish | ports, and `vm create --publish`: a guest's
// ports reachable from the host (the "publish" capability, relayed by the
// daemon into the VM namespace).
#include <iostream>

#include "cli/commands_publish.h"
#include "cli/output.h"

namespace warren::cli {
namespace {

using json = nlohmann::json;

struct PublishArgs {
  std::string name, spec;
};

void PrintPorts(const json& r) {
  Table t({"HOST", "GUEST", "PROTO", "LISTENING"});
  for (const json& p : r.value("ports", json::array())) {
    const std::string ip = p.value("host_ip", "");
    const bool v6 = ip.find(':') != std::string::npos;
    t.AddRow({(v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(p.value("host_port", 0)),
              std::to_string(p.value("guest_port", 0)), p.value("proto", ""),
              p.value("listening", false) ? "yes" : "no (VM not running)"});
  }
  std::cout << t.Render();
}

void Change(CliContext& ctx, const char* method, const PublishArgs& a) {
  Result<json> r = ctx.Call(method, {{"name", a.name}, {"spec", a.spec}}, SayWhenWaiting);
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  PrintPorts(*r);
}

}  // namespace

void AddPublishFlag(CLI::App& create, std::vector<std::string>& specs) {
  create.add_option("-p,--publish", specs,
                    "Publish a guest port on the host: [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp] "
                    "(repeatable; HOST_IP defaults to 127.0.0.1)");
}

void AddPublishCommands(CLI::App& vm, CliContext& ctx) {
  auto a = std::make_shared<PublishArgs>();
  auto* pub = vm.add_subcommand("publish", "Publish a guest port on the host (now and at every start)");
  pub->add_option("NAME", a->name, "VM name")->required();
  pub->add_option("SPEC", a->spec, "[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp], e.g. 8080:80")
      ->required();
  pub->callback([&ctx, a] { Change(ctx, "vm.publish", *a); });
  auto* unpub = vm.add_subcommand("unpublish", "Stop publishing a guest port");
  unpub->add_option("NAME", a->name, "VM name")->required();
  unpub->add_option("SPEC", a->spec, "the published spec, as `vm ports` shows it")->required();
  unpub->callback([&ctx, a] { Change(ctx, "vm.unpublish", *a); });
  auto* ports = vm.add_subcommand("ports", "List a VM's published ports");
  ports->add_option("NAME", a->name, "VM name")->required();
  ports->callback([&ctx, a] {
    Result<json> r = ctx.Call("vm.ports", {{"name", a->name}});
    if (!r) return ctx.Fail(r.error());
    if (ctx.opts.json) return PrintJson(*r);
    PrintPorts(*r);
  });
}

}  // namespace warren::cli

// warren dns | dns ls
#include <iostream>

#include "cli/context.h"
#include "cli/output.h"

namespace warren::cli {
namespace {

using json = nlohmann::json;

void Setup(CliContext& ctx) {
  Result<json> r = ctx.Call("dns.list");
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  if (!r->value("enabled", false)) {
    std::cout << "VM DNS is disabled (config dns.enabled = false)\n";
    return;
  }
  const std::string domain = r->value("domain", "");
  std::cout << "VMs are NAME." << domain << " (" << (*r)["records"].size() << " now).\n";
  const json setup = r->value("setup", json::object());
  if (setup.contains("dig")) std::cout << "Ask warren directly:\n  " << setup["dig"].get<std::string>() << "\n";
  if (setup.contains("systemd_resolved")) {
    std::cout << "Make this host resolve them (systemd-resolved, as root):\n  "
              << setup["systemd_resolved"].get<std::string>() << "\n";
  } else {
    std::cout << "The host-side listener is not running (see the daemon log; config "
                 "dns.host_listen).\n";
  }
}

void List(CliContext& ctx) {
  Result<json> r = ctx.Call("dns.list");
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  Table t({"NAME", "ADDRESS"});
  for (const auto& rec : (*r)["records"]) t.AddRow({rec.value("fqdn", ""), rec.value("ipv4", "")});
  std::cout << t.Render();
}

}  // namespace

void AddDnsCommands(CLI::App& app, CliContext& ctx) {
  auto* dns = app.add_subcommand("dns", "VM names: how the host resolves them, and the records");
  dns->callback([&ctx, dns] {
    if (dns->get_subcommands().empty()) Setup(ctx);
  });
  dns->add_subcommand("ls", "List the VM name records")->callback([&ctx] { List(ctx); });
}

}  // namespace warren::cli

// warren daemon | status | web | default-config | doctor
#include <fmt/format.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include "base/log.h"
#include "cli/context.h"
#include "cli/output.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "daemon/doctor.h"
#include "store/store.h"
#include "sys/oom.h"

namespace warren::cli {
namespace {

// Runs the daemon in the foreground until SIGTERM/SIGINT, then closes it.
constexpr int kDaemonOomScoreAdj = -900;

int RunDaemon(CliContext& ctx, const std::string& log_level) {
  Layout layout = ctx.ResolveLayout();
  if (Status s = layout.Ensure(); !s.ok()) {
    ctx.Fail(s);
    return ctx.exit_code;
  }
  Result<Config> config = LoadConfig(layout.config_file);
  std::string level = log_level.empty() && config ? config->daemon.log_level : log_level;
  if (Status s = InitLogging(layout.log_file, level.empty() ? "info" : level); !s.ok()) {
    ctx.Fail(s);
    return ctx.exit_code;
  }
  // Few malloc arenas, set before any thread starts: the daemon's threads
  // (one per RPC connection, session pump, watcher) mostly wait on I/O, so
  // allocation contention is low, while glibc's default of 8 arenas per core
  // kept ~1-2 MB resident in each after a burst of clients was gone (soak in
  // docs/BENCHMARKS.md: 16 MB idle → 34 MB after 1000 clients; with 4: 23 MB).
  mallopt(M_ARENA_MAX, 4);
  // The kernel's OOM killer picks a QEMU (each raised to +500 as it starts)
  // long before the daemon that reports it. Lowering needs root
  // (CAP_SYS_RESOURCE); without it the daemon keeps the default and says so.
  if (Status adj = SetOomScoreAdj(0, kDaemonOomScoreAdj); !adj.ok()) {
    spdlog::warn("the OOM killer may pick the daemon: {}", adj.ToString());
  }
  // Block the shutdown signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Result<std::unique_ptr<Daemon>> daemon = Daemon::Open(layout, DaemonDeps::Real());
  if (!daemon) {
    spdlog::error("{}", daemon.error().message());
    ctx.exit_code = kExitFailed;
    return ctx.exit_code;
  }
  Daemon* d = daemon->get();
  // Open has bound and listens on the socket: connections queue from here, so
  // systemd (Type=notify) may let `systemctl start` return and start units
  // ordered after warren. A no-op when not started by systemd (no
  // NOTIFY_SOCKET); a failed notification is logged, never fatal.
  if (int r = sd_notifyf(0, "READY=1\nMAINPID=%d", static_cast<int>(getpid())); r < 0) {
    spdlog::warn("sd_notify(READY=1) failed: {}", std::strerror(-r));
  }
  std::thread waiter([d, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    (void)sd_notify(0, "STOPPING=1");
    (void)d->Close();
  });
  Status served = d->Serve();
  if (!served.ok()) {
    spdlog::error("{}", served.message());
    // Wake the signal thread so it can be joined.
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  Status closed = d->Close();
  daemon->reset();
  spdlog::info("stopped");
  return served.ok() && closed.ok() ? kExitOk : kExitFailed;
}

void PrintStatus(CliContext& ctx) {
  Result<nlohmann::json> r = ctx.Call("daemon.status");
  if (!r) return ctx.Fail(r.error());
  const nlohmann::json& s = *r;
  if (ctx.opts.json) return PrintJson(s);
  Table t({"FIELD", "VALUE"});
  t.AddRow({"version", s.value("version", "")});
  t.AddRow({"pid", std::to_string(s.value("pid", 0))});
  t.AddRow({"uptime", FormatDuration(s.value("uptime_ms", int64_t{0}))});
  t.AddRow({"root", s.value("root", "")});
  t.AddRow({"socket", s.value("socket", "")});
  t.AddRow({"accelerator", s.value("accelerator", "")});
  if (s.contains("network")) {
    const nlohmann::json& n = s["network"];
    t.AddRow({"network", n.value("mode", "") + " (namespace " + n.value("namespace", "") +
                             ", bridge " + n.value("bridge", "") + ", " + n.value("subnet", "") +
                             ")"});
    if (n.contains("uplink")) t.AddRow({"uplink", n.value("uplink", "") + ", masquerade"});
    if (!n.value("dns_domain", "").empty()) {
      std::string listen = n.value("dns_host_listen", "");
      t.AddRow({"dns", "*." + n.value("dns_domain", "") + ", host listener " +
                           (listen.empty() ? "off" : listen)});
    }
  }
  if (s.contains("web")) {
    const nlohmann::json& w = s["web"];
    std::string listen = w.value("listen", "");
    t.AddRow({"web", !w.value("enabled", false) ? "off"
                     : listen.empty()          ? "not serving: " + w.value("error", "")
                                               : "http://" + listen + "/ (login URL: warren web)"});
  }
  if (s.contains("memory") && s["memory"].contains("used_bytes")) {
    const nlohmann::json& m = s["memory"];
    const uint64_t used = m.value("used_bytes", uint64_t{0});
    t.AddRow({"memory", m["budget_bytes"].is_null()
                            ? FormatBytes(used) + " held by VMs, no budget"
                            : FormatBytes(used) + " of " +
                                  FormatBytes(m["budget_bytes"].get<uint64_t>()) +
                                  " budget held by " + m.value("vms", nlohmann::json(0)).dump() +
                                  " VM(s), " +
                                  FormatBytes(m["headroom_bytes"].get<uint64_t>()) +
                                  " headroom"});
  }
  const nlohmann::json counts = s.value("counts", nlohmann::json::object());
  for (const auto& [name, count] : counts.items()) {
    t.AddRow({name, count.dump()});
  }
  std::cout << t.Render();
}

// `warren web`: the login URL (the token is in it); --rotate first issues a new one.
void RunWeb(CliContext& ctx, bool rotate) {
  Result<nlohmann::json> r = ctx.Call(rotate ? "web.rotate" : "web.info");
  if (!r) return ctx.Fail(r.error());
  const std::string url = r->value("url", "");
  if (url.empty()) {
    return ctx.Fail(FailedPrecondition(
        r->contains("error") ? "the web UI is not serving: " + r->value("error", "")
                             : "the web UI is off; set web.enabled = true and restart the daemon"));
  }
  if (ctx.opts.json) return PrintJson({{"url", url}, {"listen", r->value("listen", "")}});
  std::cout << url << "\n";
}

void RunDoctor(CliContext& ctx) {
  Layout layout = ctx.ResolveLayout();
  std::unique_ptr<DaemonDeps> deps = std::make_unique<DaemonDeps>(DaemonDeps::Real());
  Result<Config> config = LoadConfig(layout.config_file);
  DoctorInputs in;
  in.probe = deps->host_probe.get();
  in.layout = layout;
  if (config) in.accelerator_setting = config->vm.accelerator;
  in.check_config = [&] { return config.status(); };
  in.check_store = [&] { return Store::CheckFile(layout.db_file); };
  in.daemon_version = [&]() -> Result<std::string> {
    ASSIGN_OR_RETURN(nlohmann::json s, ctx.Call("daemon.status"));
    return s.value("version", std::string("?"));
  };
  in.daemon_checks = [&]() -> Result<std::vector<CheckResult>> {
    ASSIGN_OR_RETURN(nlohmann::json h, ctx.Call("daemon.health"));
    std::vector<CheckResult> rows;
    for (const nlohmann::json& c : h.value("checks", nlohmann::json::array())) {
      std::string level = c.value("level", "FAIL");
      rows.push_back({c.value("name", ""),
                      level == "PASS"   ? CheckLevel::kPass
                      : level == "WARN" ? CheckLevel::kWarn
                                        : CheckLevel::kFail,
                      c.value("found", ""), c.value("fix", "")});
    }
    return rows;
  };
  std::vector<CheckResult> checks = Doctor(in);
  if (ctx.opts.json) {
    nlohmann::json doc = nlohmann::json::array();
    for (const auto& c : checks) {
      doc.push_back({{"check", c.name},
                     {"level", CheckLevelName(c.level)},
                     {"found", c.found},
                     {"fix", c.fix}});
    }
    PrintJson({{"checks", doc}, {"ok", !AnyFailed(checks)}});
  } else {
    for (const auto& c : checks) {
      std::cout << fmt::format("{}  {:<20} {}", CheckLevelName(c.level), c.name, c.found);
      if (!c.fix.empty()) std::cout << "\n      fix: " << c.fix;
      std::cout << "\n";
    }
  }
  ctx.exit_code = AnyFailed(checks) ? kExitFailed : kExitOk;
}

}  // namespace

void AddDaemonCommands(CLI::App& app, CliContext& ctx) {
  auto* daemon = app.add_subcommand("daemon", "Run the warren daemon in the foreground");
  auto level = std::make_shared<std::string>();
  daemon->add_option("--log-level", *level, "trace, debug, info, warn or error (default: config)");
  daemon->callback([&ctx, level] { ctx.exit_code = RunDaemon(ctx, *level); });

  app.add_subcommand("status", "Show the daemon's version, pid, uptime, root and counts")
      ->callback([&ctx] { PrintStatus(ctx); });
  auto* web = app.add_subcommand("web", "Print the web UI's login URL (it carries the token)");
  auto rotate = std::make_shared<bool>(false);
  web->add_flag("--rotate", *rotate, "Issue a new token first: every browser is logged out");
  web->callback([&ctx, rotate] { RunWeb(ctx, *rotate); });
  // Writes the file an administrator edits (the Debian package ships it as its
  // conffile), from the same table the daemon parses, so it never drifts.
  app.add_subcommand("default-config",
                     "Print a config.toml with every key at its default, each explained")
      ->callback([] { std::cout << DefaultConfigToml(); });
  app.add_subcommand("doctor",
                     "Diagnose the host: KVM, TUN, capabilities, tools, disk, config, store, daemon")
      ->callback([&ctx] { RunDoctor(ctx); });
}

}  // namespace warren::cli

// warren: the CLI, and (`warren daemon`) the daemon itself.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>

#include "cli/commands_snapshot.h"
#include "cli/context.h"

namespace warren::cli {
namespace {

int Main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CliContext ctx;
  CLI::App app("warren: throwaway Linux microVMs in seconds", "warren");
  app.set_version_flag("--version", WARREN_VERSION);
  // Global options are inherited by every subcommand so they may come before or
  // after it (`warren --json status` and `warren status --json`).
  app.fallthrough();
  app.require_subcommand(1);
  app.add_option("--root", ctx.opts.root, "Keep the daemon's whole tree under DIR")
      ->envname("WARREN_ROOT")
      ->type_name("DIR");
  app.add_option("--socket", ctx.opts.socket, "Daemon socket for clients")
      ->envname("WARREN_SOCKET")
      ->type_name("PATH");
  app.add_flag("--json", ctx.opts.json, "Print one JSON document instead of tables");
  app.footer(
      "Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 daemon unreachable.\n"
      "Run `warren COMMAND --help` for a command's options.");

  AddDaemonCommands(app, ctx);
  AddOpCommands(app, ctx);
  AddImageCommands(app, ctx);
  AddSessionCommands(app, ctx);
  AddVmCommands(app, ctx);
  AddSnapshotCommands(app, ctx);
  AddDnsCommands(app, ctx);
  AddEventsCommands(app, ctx);
  AddCpCommands(app, ctx);
  AddSshCommands(app, ctx);
  AddCompletionCommands(app, ctx);  // last: it reads the tree the others built

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return ctx.exit_code;
}

}  // namespace
}  // namespace warren::cli

int main(int argc, char** argv) { return warren::cli::Main(argc, argv); }

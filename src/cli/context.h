#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "rpc/client.h"
#include "sys/layout.h"

namespace warren::cli {

// Exit codes, the CLI's contract with scripts.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the operation failed
inline constexpr int kExitUsage = 2;        // bad flags or arguments
inline constexpr int kExitUnreachable = 3;  // no daemon answers on the socket

// Global options, accepted before or after the subcommand.
struct GlobalOptions {
  std::string root;    // --root / WARREN_ROOT
  std::string socket;  // --socket / WARREN_SOCKET
  bool json = false;   // --json
};

// What every command shares: the options, a lazily opened daemon connection,
// and the exit code it decided on. One per process; not thread-safe except
// Client::Cancel, which a signal thread may call.
class CliContext {
 public:
  GlobalOptions opts;
  int exit_code = kExitOk;

  Layout ResolveLayout() const { return Layout::Resolve(opts.root); }
  std::filesystem::path SocketPath() const;

  // Connects on first use.
  Result<rpc::Client*> Client();
  using NotifyFn = std::function<void(std::string_view method, const nlohmann::json& params)>;
  using StreamFn = rpc::Client::StreamFn;
  Result<nlohmann::json> Call(std::string_view method, const nlohmann::json& params = {},
                              const NotifyFn& on_notify = {}, const StreamFn& on_stream = {});

  // Prints "warren: <message>" on stderr and records the matching exit code.
  void Fail(const Status& status);

 private:
  std::unique_ptr<rpc::Client> client_;
};

// Each command group registers its subcommands; the action callbacks set
// ctx.exit_code. Adding a command group = one function + one line in main.cc.
void AddDaemonCommands(CLI::App& app, CliContext& ctx);
void AddOpCommands(CLI::App& app, CliContext& ctx);
void AddImageCommands(CLI::App& app, CliContext& ctx);
void AddSessionCommands(CLI::App& app, CliContext& ctx);
void AddVmCommands(CLI::App& app, CliContext& ctx);
void AddDnsCommands(CLI::App& app, CliContext& ctx);
void AddEventsCommands(CLI::App& app, CliContext& ctx);
void AddCpCommands(CLI::App& app, CliContext& ctx);
void AddSshCommands(CLI::App& app, CliContext& ctx);
void AddCompletionCommands(CLI::App& app, CliContext& ctx);

// Follows op ID, drawing progress (and its log when verbose); OK when it
// succeeded. Used by `op wait` and by commands that start operations.
Status WaitForOp(CliContext& ctx, const std::string& id, bool verbose, nlohmann::json* final_op);

// The tail every op-starting command shares: `started` is the reply {op, ...}
// of the call that started it. --detach prints the op id; otherwise the op is
// followed ("<doing> (<id>)" on stderr, then progress) and its result printed
// with `print` — or, with --json, {op, <result_key>: result}.
struct FollowOp {
  std::string doing;       // e.g. "creating VM web"
  std::string result_key;  // e.g. "vm"
  std::function<void(const nlohmann::json& result)> print;
  bool detach = false;
  bool verbose = false;
};
void StartedOp(CliContext& ctx, const Result<nlohmann::json>& started, const FollowOp& how);

}  // namespace warren::cli

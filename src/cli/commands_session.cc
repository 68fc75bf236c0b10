// warren exec | shell | session start|ls|attach|send|logs|kill
#include <unistd.h>

#include <iostream>
#include <map>

#include "cli/context.h"
#include "cli/output.h"
#include "cli/session_io.h"

namespace warren::cli {
namespace {

using json = nlohmann::json;

struct SpecArgs {
  std::string vm;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string workdir;
  bool tty = false;
  bool no_tty = false;
  bool wait = false;
  std::string name;
};

constexpr int kDetachByte = 0x1d;  // Ctrl-]

Result<json> SpecParams(const SpecArgs& a, bool tty) {
  json env = json::object();
  for (const std::string& kv : a.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("--env wants NAME=VALUE, got \"" + kv + "\"");
    }
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  json p = {{"vm", a.vm}, {"argv", a.argv}, {"env", env}, {"workdir", a.workdir},
            {"tty", tty}, {"wait", a.wait}};
  int cols = 0, rows = 0;
  if (tty && TerminalSize(&cols, &rows)) {
    p["cols"] = cols;
    p["rows"] = rows;
  }
  if (const char* term = std::getenv("TERM"); tty && term != nullptr && *term) p["term"] = term;
  return p;
}

// The command's exit code becomes warren's.
void FinishExec(CliContext& ctx, const StreamCallResult& r) {
  const json& code = r.reply["exit_code"];
  if (code.is_number_integer()) {
    ctx.exit_code = code.get<int>();
    return;
  }
  if (r.interrupted) {
    ctx.exit_code = 130;  // as a shell reports a command ended by Ctrl-C
    return;
  }
  std::fprintf(stderr, "warren: the command was killed by a signal\n");
  ctx.exit_code = 255;
}

void Exec(CliContext& ctx, const SpecArgs& a, bool shell) {
  bool tty = shell || a.tty;
  Result<json> params = SpecParams(a, tty);
  if (!params) return ctx.Fail(params.error());
  StreamCallOptions o;
  o.raw_terminal = tty;
  o.forward_sigint = !tty;
  Result<StreamCallResult> r = RunStreamCall(ctx, "vm.exec", *params, o);
  if (!r) return ctx.Fail(r.error());
  FinishExec(ctx, *r);
}

std::string Command(const json& argv) {
  if (!argv.is_array() || argv.empty()) return "(login shell)";
  std::string out;
  for (const auto& w : argv) out += (out.empty() ? "" : " ") + w.get<std::string>();
  return out;
}

std::string State(const json& s) {
  std::string state = s.value("state", "");
  if (state == "exited" && s["exit_code"].is_number_integer()) {
    state += " (" + std::to_string(s["exit_code"].get<int>()) + ")";
  }
  if (state == "lost" && !s.value("error", "").empty()) state += ": " + s.value("error", "");
  return state;
}

void PrintSessions(const json& list) {
  Table t({"ID", "NAME", "VM", "STATE", "ATTACHED", "STARTED", "COMMAND"});
  for (const json& s : list) {
    t.AddRow({s.value("id", ""), s.value("name", ""), s.value("vm", ""), State(s),
              std::to_string(s.value("attached", 0)), FormatTime(s.value("started_ms", int64_t{0})),
              Command(s["argv"])});
  }
  std::cout << t.Render();
}

void Start(CliContext& ctx, const SpecArgs& a) {
  Result<json> params = SpecParams(a, !a.no_tty);
  if (!params) return ctx.Fail(params.error());
  (*params)["name"] = a.name;
  Result<json> r = ctx.Call("session.start", *params);
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  std::cout << r->value("id", "") << "\n";
}

void Attach(CliContext& ctx, const std::string& id, bool follow_logs) {
  json params = {{"id", id}};
  StreamCallOptions o;
  if (follow_logs) {
    params["follow"] = true;
    o.forward_stdin = false;
  } else {
    int cols = 0, rows = 0;
    if (TerminalSize(&cols, &rows)) {
      params["cols"] = cols;
      params["rows"] = rows;
    }
    o.raw_terminal = true;
    o.use_ack_window = false;
    o.detach_byte = kDetachByte;
    if (::isatty(0) != 0) std::fprintf(stderr, "[attached to %s; Ctrl-] detaches]\r\n", id.c_str());
  }
  o.forward_sigint = false;
  Result<StreamCallResult> r =
      RunStreamCall(ctx, follow_logs ? "session.logs" : "session.attach", params, o);
  if (!r) return ctx.Fail(r.error());
  if (r->detached || r->reply.value("detached", false)) {
    std::fprintf(stderr, "\r\n[detached from %s; it keeps running]\r\n", id.c_str());
    return;
  }
  if (!follow_logs) std::fprintf(stderr, "\r\n[session %s: %s]\r\n", id.c_str(), State(r->reply).c_str());
}

void Logs(CliContext& ctx, const std::string& id, bool follow) {
  if (follow) return Attach(ctx, id, true);
  StreamCallOptions o;
  o.forward_stdin = false;
  o.forward_sigint = false;
  Result<StreamCallResult> r = RunStreamCall(ctx, "session.logs", {{"id", id}}, o);
  if (!r) return ctx.Fail(r.error());
}

void AddSpecOptions(CLI::App* cmd, SpecArgs& a) {
  cmd->add_option("--env,-e", a.env, "Set NAME=VALUE in the command's environment")
      ->type_name("NAME=VALUE");
  cmd->add_option("--workdir,-w", a.workdir, "Run in DIR")->type_name("DIR");
  cmd->add_flag("--wait", a.wait, "Wait for a VM that is still booting");
}

}  // namespace

void AddSessionCommands(CLI::App& app, CliContext& ctx) {
  auto exec_args = std::make_shared<SpecArgs>();
  CLI::App* exec = app.add_subcommand("exec", "Run a command in a VM (its exit code is ours)");
  exec->add_option("vm", exec_args->vm, "VM name")->required();
  exec->add_option("command", exec_args->argv, "Command and arguments (after --)")->required();
  exec->add_flag("--tty,-t", exec_args->tty, "Give the command a terminal (PTY)");
  AddSpecOptions(exec, *exec_args);
  exec->callback([&ctx, exec_args] { Exec(ctx, *exec_args, false); });

  auto shell_args = std::make_shared<SpecArgs>();
  CLI::App* shell = app.add_subcommand("shell", "Open an interactive login shell in a VM");
  shell->add_option("vm", shell_args->vm, "VM name")->required();
  shell->add_flag("--wait", shell_args->wait, "Wait for a VM that is still booting");
  shell->callback([&ctx, shell_args] { Exec(ctx, *shell_args, true); });

  CLI::App* session = app.add_subcommand("session", "Detached sessions that outlive the client");
  session->require_subcommand(1);

  auto start_args = std::make_shared<SpecArgs>();
  CLI::App* start = session->add_subcommand("start", "Start a detached session; prints its id");
  start->add_option("vm", start_args->vm, "VM name")->required();
  start->add_option("command", start_args->argv, "Command and arguments (after --)")->required();
  start->add_option("--name", start_args->name, "A name to use instead of the id");
  start->add_flag("--no-tty", start_args->no_tty, "No PTY (stdout and stderr stay apart)");
  AddSpecOptions(start, *start_args);
  start->callback([&ctx, start_args] { Start(ctx, *start_args); });

  auto ls_vm = std::make_shared<std::string>();
  CLI::App* ls = session->add_subcommand("ls", "List sessions (running, exited with code, lost)");
  ls->add_option("vm", *ls_vm, "Only this VM's");
  ls->callback([&ctx, ls_vm] {
    Result<json> r = ctx.Call("session.ls", {{"vm", *ls_vm}});
    if (!r) return ctx.Fail(r.error());
    if (ctx.opts.json) return PrintJson(*r);
    PrintSessions((*r)["sessions"]);
  });

  auto id = std::make_shared<std::string>();
  CLI::App* attach = session->add_subcommand("attach", "Attach to a session (Ctrl-] detaches)");
  attach->add_option("id", *id, "Session id or name")->required();
  attach->callback([&ctx, id] { Attach(ctx, *id, false); });

  auto send_text = std::make_shared<std::string>();
  auto no_newline = std::make_shared<bool>(false);
  CLI::App* send = session->add_subcommand("send", "Write TEXT (and a newline) to a session");
  send->add_option("id", *id, "Session id or name")->required();
  send->add_option("text", *send_text, "Text to send")->required();
  send->add_flag("-n,--no-newline", *no_newline, "Do not append a newline");
  send->callback([&ctx, id, send_text, no_newline] {
    std::string text = *send_text + (*no_newline ? "" : "\n");
    Result<json> r = ctx.Call("session.send", {{"id", *id}, {"text", text}});
    if (!r) return ctx.Fail(r.error());
    if (ctx.opts.json) PrintJson(*r);
  });

  auto follow = std::make_shared<bool>(false);
  CLI::App* logs = session->add_subcommand("logs", "Print a session's scrollback");
  logs->add_option("id", *id, "Session id or name")->required();
  logs->add_flag("-f,--follow", *follow, "Keep printing new output until it ends");
  logs->callback([&ctx, id, follow] { Logs(ctx, *id, *follow); });

  auto signal = std::make_shared<std::string>();
  CLI::App* kill = session->add_subcommand(
      "kill", "End a session (TERM and hang up), or forget one that has ended");
  kill->add_option("id", *id, "Session id or name")->required();
  kill->add_option("--signal,-s", *signal, "Only send this signal (e.g. INT, KILL)");
  kill->callback([&ctx, id, signal] {
    Result<json> r = ctx.Call("session.kill", {{"id", *id}, {"signal", *signal}});
    if (!r) return ctx.Fail(r.error());
    if (ctx.opts.json) return PrintJson(*r);
    std::cout << r->value("id", "") << " " << State(*r) << "\n";
  });
}

}  // namespace warren::cli

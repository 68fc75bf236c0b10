// warren cp: files and trees between the host and a VM, like docker cp, over
// the daemon's vm.exec stream (no second way into guests). The rules are in
// cp_plan, the host's tar side in cp_archive, the exchange in cp_transfer.
#include <unistd.h>

#include "cli/context.h"
#include "cli/cp_transfer.h"
#include "cli/session_io.h"

namespace warren::cli {
namespace {

using json = nlohmann::json;

struct CpArgs {
  std::vector<std::string> operands;
  bool recursive = false;
  bool quiet = false;
};

// The guest command through vm.exec: stdin from run.stdin_fd (ack window as
// for `warren exec`), output to run.on_output, Ctrl-C forwarded.
cp::GuestExec DaemonExec(CliContext& ctx, const std::string& vm) {
  return [&ctx, vm](const cp::GuestRun& run) -> Result<int> {
    json params = {{"vm", vm}, {"argv", run.argv}, {"env", json::object()}, {"tty", false}};
    StreamCallOptions o;
    o.stdin_fd = run.stdin_fd;
    o.on_output = run.on_output;
    ASSIGN_OR_RETURN(StreamCallResult r, RunStreamCall(ctx, "vm.exec", params, o));
    const json& code = r.reply["exit_code"];
    return code.is_number_integer() ? code.get<int>() : -1;
  };
}

void Cp(CliContext& ctx, const CpArgs& a) {
  Result<cp::Plan> plan = cp::MakePlan(a.operands);
  if (!plan) return ctx.Fail(plan.error());
  cp::CopyOptions o;
  o.recursive = a.recursive;
  o.progress = !a.quiet && ::isatty(2) != 0;
  cp::GuestExec exec = DaemonExec(ctx, plan->vm);
  Status st = plan->direction == cp::Direction::kToGuest ? cp::CopyToGuest(exec, *plan, o)
                                                        : cp::CopyFromGuest(exec, *plan, o);
  if (!st.ok()) ctx.Fail(st);
}

}  // namespace

void AddCpCommands(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<CpArgs>();
  CLI::App* cp = app.add_subcommand(
      "cp",
      "Copy files between the host and a VM: cp [-r] SRC... VM:DST, cp [-r] VM:SRC... DST;\n"
      "\"-\" is a tar on stdin (cp - VM:DIR) or stdout (cp VM:PATH -). Modes, mtimes,\n"
      "symlinks and sparse files are kept; DST follows docker cp (an existing directory\n"
      "receives SRC, anything else is SRC's new name).");
  cp->add_option("operands", args->operands, "SRC... DST")->required();
  cp->add_flag("-r,--recursive", args->recursive, "Copy directories");
  cp->add_flag("-q,--quiet", args->quiet, "No progress bar");
  cp->callback([&ctx, args] { Cp(ctx, *args); });
}

}  // namespace warren::cli

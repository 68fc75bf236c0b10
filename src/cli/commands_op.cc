// warren op ls | op show ID | op wait ID | op cancel ID
#include <fmt/format.h>

#include <iostream>

#include "cli/context.h"
#include "cli/output.h"

namespace warren::cli {
namespace {

void ListOps(CliContext& ctx) {
  Result<nlohmann::json> r = ctx.Call("op.list");
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  Table t({"ID", "KIND", "TARGET", "STATE", "PROGRESS", "STARTED", "DURATION", "ERROR"});
  for (const auto& op : (*r)["ops"]) {
    int64_t started = op.value("started_ms", int64_t{0});
    int64_t ended = op.value("ended_ms", int64_t{0});
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    t.AddRow({op.value("id", ""), op.value("kind", ""), op.value("target", ""),
              op.value("state", ""),
              fmt::format("{:3.0f}% {}", op.value("fraction", 0.0) * 100, op.value("step", "")),
              FormatTime(started), FormatDuration((ended ? ended : now) - started),
              op.value("error", "")});
  }
  std::cout << t.Render();
}

void PrintOp(CliContext& ctx, const nlohmann::json& op) {
  if (ctx.opts.json) return PrintJson(op);
  Table t({"FIELD", "VALUE"});
  for (const char* key : {"id", "kind", "target", "state", "step", "error"}) {
    t.AddRow({key, op.value(key, "")});
  }
  t.AddRow({"progress", fmt::format("{:.0f}%", op.value("fraction", 0.0) * 100)});
  t.AddRow({"started", FormatTime(op.value("started_ms", int64_t{0}))});
  t.AddRow({"ended", FormatTime(op.value("ended_ms", int64_t{0}))});
  std::cout << t.Render();
}

void ShowOp(CliContext& ctx, const std::string& id) {
  Result<nlohmann::json> r = ctx.Call("op.get", {{"id", id}});
  if (!r) return ctx.Fail(r.error());
  PrintOp(ctx, *r);
}

void CancelOp(CliContext& ctx, const std::string& id) {
  Result<nlohmann::json> r = ctx.Call("op.cancel", {{"id", id}});
  if (!r) return ctx.Fail(r.error());
  if (ctx.opts.json) return PrintJson(*r);
  std::cout << "cancel requested for " << id << "\n";
}

}  // namespace

Status WaitForOp(CliContext& ctx, const std::string& id, bool verbose, nlohmann::json* final_op) {
  ProgressLine progress;
  auto on_notify = [&](std::string_view method, const nlohmann::json& p) {
    if (method == "op.progress") {
      progress.Update(p.value("step", ""), p.value("fraction", 0.0));
    } else if (method == "op.log" && verbose) {
      progress.Finish();
      std::cerr << p.value("line", "") << "\n";
    }
  };
  Result<nlohmann::json> r = ctx.Call("op.wait", {{"id", id}, {"logs", verbose}}, on_notify);
  progress.Finish();
  if (!r) return r.error();
  if (final_op != nullptr) *final_op = *r;
  std::string state = r->value("state", "");
  if (state == "succeeded") return Status::Ok();
  std::string error = r->value("error", "");
  return Status(state == "cancelled" ? Code::kCancelled : Code::kInternal,
                fmt::format("operation {} {}{}{}", id, state, error.empty() ? "" : ": ", error));
}

void StartedOp(CliContext& ctx, const Result<nlohmann::json>& started, const FollowOp& how) {
  if (!started) return ctx.Fail(started.error());
  const std::string id = started->value("op", "");
  if (how.detach) {
    if (ctx.opts.json) return PrintJson(*started);
    std::cout << id << "\n";
    return;
  }
  if (!ctx.opts.json) std::cerr << how.doing << " (" << id << ")\n";
  nlohmann::json final_op;
  Status s = WaitForOp(ctx, id, how.verbose, &final_op);
  if (ctx.opts.json) {
    PrintJson({{"op", final_op}, {how.result_key, s.ok() ? final_op["result"] : nlohmann::json()}});
  } else if (s.ok()) {
    how.print(final_op["result"]);
  }
  if (!s.ok()) ctx.Fail(s);
}

void AddOpCommands(CLI::App& app, CliContext& ctx) {
  auto* op = app.add_subcommand("op", "Long operations (VM creates, image builds)");
  op->require_subcommand(1);
  op->add_subcommand("ls", "List operations, running and finished")->callback([&ctx] {
    ListOps(ctx);
  });
  auto id = std::make_shared<std::string>();
  auto* show = op->add_subcommand("show", "Show one operation");
  show->add_option("ID", *id, "Operation id")->required();
  show->callback([&ctx, id] { ShowOp(ctx, *id); });

  auto verbose = std::make_shared<bool>(false);
  auto* wait = op->add_subcommand("wait", "Follow an operation's progress until it ends");
  wait->add_option("ID", *id, "Operation id")->required();
  wait->add_flag("-v,--verbose", *verbose, "Stream the operation's log");
  wait->callback([&ctx, id, verbose] {
    nlohmann::json final_op;
    Status s = WaitForOp(ctx, *id, *verbose, &final_op);
    if (!final_op.is_null()) PrintOp(ctx, final_op);
    if (!s.ok()) ctx.Fail(s);
  });

  auto* cancel = op->add_subcommand("cancel", "Cancel a running operation (it is rolled back)");
  cancel->add_option("ID", *id, "Operation id")->required();
  cancel->callback([&ctx, id] { CancelOp(ctx, *id); });
}

}  // namespace warren::cli

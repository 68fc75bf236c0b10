// warren events [--kind K]... [--json]: the daemon's change stream, one line per event.
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>

#include <ctime>
#include <iostream>
#include <thread>

#include "cli/context.h"
#include "cli/output.h"

namespace warren::cli {
namespace {

using nlohmann::json;

// "2026-11-28T23:59:01Z" (UTC, like `docker events`).
std::string IsoUtc(int64_t unix_millis) {
  std::time_t secs = static_cast<std::time_t>(unix_millis / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The few fields worth a glance, per kind; --json has everything.
std::string Attributes(const json& e) {
  const std::string kind = e.value("kind", "");
  const json& d = e.contains("data") && e["data"].is_object() ? e["data"] : json::object();
  std::string out;
  auto add = [&](const char* key, const std::string& value) {
    if (!value.empty()) out += fmt::format(" {}={}", key, value);
  };
  auto str = [&](const char* key) {
    return d.contains(key) && d[key].is_string() ? d[key].get<std::string>() : "";
  };
  if (kind == "vm") {
    add("state", str("state"));
    if (str("state") == "creating") add("step", str("step"));
    add("error", str("error"));
  } else if (kind == "op") {
    add("kind", str("kind"));
    add("target", str("target"));
    add("state", str("state"));
    add("step", str("step"));
    if (d.contains("fraction") && d["fraction"].is_number()) {
      add("progress", fmt::format("{:.0f}%", d["fraction"].get<double>() * 100));
    }
    add("error", str("error"));
  } else if (kind == "session") {
    add("vm", str("vm"));
    add("state", str("state"));
    if (d.contains("attached") && d["attached"].is_number_integer()) {
      add("attached", std::to_string(d["attached"].get<int64_t>()));
    }
  } else if (kind == "meta" && d.contains("dropped")) {
    add("dropped", d["dropped"].dump());
  }
  return out;
}

void PrintEvent(const json& e, bool as_json) {
  if (as_json) {
    std::cout << e.dump() << std::endl;  // flushed: a pipe reader sees it now
    return;
  }
  if (e.value("kind", "") == "meta" && e.value("action", "") == "subscribed") return;
  std::cout << IsoUtc(e.value("time_ms", int64_t{0})) << " " << e.value("kind", "") << " "
            << e.value("action", "") << " " << e.value("target", "") << Attributes(e) << std::endl;
}

// Follows events until SIGINT/SIGTERM (→ $/cancel, then a clean exit 0).
void FollowEvents(CliContext& ctx, const std::vector<std::string>& kinds) {
  Result<rpc::Client*> client = ctx.Client();
  if (!client) return ctx.Fail(client.error());
  sigset_t set, old;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGUSR2}) sigaddset(&set, sig);
  ::pthread_sigmask(SIG_BLOCK, &set, &old);
  std::thread signals([&] {
    int sig = 0;
    while (::sigwait(&set, &sig) == 0) {
      if (sig == SIGUSR2) return;  // the call ended on its own
      (*client)->Cancel();
    }
  });
  json params = json::object();
  if (!kinds.empty()) params["kinds"] = kinds;
  const bool as_json = ctx.opts.json;
  Result<json> r = (*client)->Call("events.subscribe", params,
                                   [as_json](std::string_view method, const json& event) {
                                     if (method == "event") PrintEvent(event, as_json);
                                   });
  ::pthread_kill(signals.native_handle(), SIGUSR2);
  signals.join();
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!r.ok() && r.error().code() != Code::kCancelled) ctx.Fail(r.error());
}

}  // namespace

void AddEventsCommands(CLI::App& app, CliContext& ctx) {
  auto kinds = std::make_shared<std::vector<std::string>>();
  auto* events = app.add_subcommand(
      "events", "Follow VM, op, image and session changes as they happen (Ctrl-C ends)");
  events->add_option("--kind", *kinds, "Only this kind: vm, op, image, session (repeatable)");
  events->callback([&ctx, kinds] { FollowEvents(ctx, *kinds); });
}

}  // namespace warren::cli

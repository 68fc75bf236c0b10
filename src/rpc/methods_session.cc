// vm.exec (also `warren shell`) and session.*: commands in guests over the
// daemon's pooled SSH connections, with stdin/stdout/stderr as stream frames
// on the caller's connection (see rpc/stream_control.h for the control channel).
#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "rpc/frame.h"
#include "rpc/resource_json.h"
#include "rpc/services.h"
#include "rpc/stream_control.h"
#include "session/session_registry.h"
#include "vm/vm_manager.h"

namespace warren::rpc {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxSide = kMaxTerminalSide;

struct SpecParams {
  std::string vm;
  ExecSpec spec;
  uint32_t stream = 1;
  bool wait = false;
  int64_t wait_timeout_s = 300;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("vm", kRequired, "the VM to run in"),
      {"argv", ParamType::kStringList, kOptional, "the command; empty = a shell (needs tty)", kNoMin,
       kNoMax, 128 << 10},
      {"env", ParamType::kStringMap, kOptional, "extra environment variables", kNoMin, kNoMax,
       128 << 10},
      Str("workdir", kOptional, "the working directory in the guest"),
      Bool("tty", "run on a pseudo-terminal"),
      Str("term", kOptional, "TERM for the pseudo-terminal (default xterm-256color)"),
      Int("cols", kOptional, "terminal columns (default 80)", 1, kMaxSide),
      Int("rows", kOptional, "terminal rows (default 24)", 1, kMaxSide),
      Int("stream", kOptional, "the stream id for stdin/stdout/stderr (default 1)", 1, UINT32_MAX),
      Bool("wait", "wait for the VM to be reachable instead of failing"),
      Int("wait_timeout_s", kOptional, "how long to wait (default 300)", 0, 86400),
  });

  static Result<SpecParams> FromJson(const json& p, bool tty_default) {
    SpecParams r;
    ASSIGN_OR_RETURN(r.vm, RequiredString(p, "vm"));
    RETURN_IF_ERROR(ValidateVmName(r.vm));
    ASSIGN_OR_RETURN(r.spec.argv, OptionalStringList(p, "argv"));
    ASSIGN_OR_RETURN(json env, OptionalObject(p, "env"));
    for (const auto& [k, v] : env.items()) {
      if (!v.is_string()) return InvalidArgument("env." + k + " must be a string");
      r.spec.env.emplace_back(k, v.get<std::string>());
    }
    ASSIGN_OR_RETURN(r.spec.workdir, OptionalString(p, "workdir"));
    ASSIGN_OR_RETURN(r.spec.tty, OptionalBool(p, "tty", tty_default));
    ASSIGN_OR_RETURN(r.spec.term, OptionalString(p, "term", "xterm-256color"));
    ASSIGN_OR_RETURN(int64_t cols, OptionalInt(p, "cols", 80));
    ASSIGN_OR_RETURN(int64_t rows, OptionalInt(p, "rows", 24));
    if (cols <= 0 || rows <= 0 || cols > 10000 || rows > 10000) {
      return InvalidArgument("cols and rows must be 1..10000");
    }
    r.spec.cols = static_cast<int>(cols);
    r.spec.rows = static_cast<int>(rows);
    if (r.spec.argv.empty() && !r.spec.tty) {
      return InvalidArgument("argv is required (an empty command means a shell, which needs tty)");
    }
    ASSIGN_OR_RETURN(int64_t stream, OptionalInt(p, "stream", 1));
    r.stream = static_cast<uint32_t>(stream);
    ASSIGN_OR_RETURN(r.wait, OptionalBool(p, "wait"));
    ASSIGN_OR_RETURN(r.wait_timeout_s, OptionalInt(p, "wait_timeout_s", 300));
    return r;
  }
};

struct ExecParams : SpecParams {
  static Result<ExecParams> FromJson(const json& p) {
    ASSIGN_OR_RETURN(SpecParams s, SpecParams::FromJson(p, false));
    return ExecParams{s};
  }
};

struct StartParams : SpecParams {
  std::string name;
  static constexpr auto kParams = Concat(
      SpecParams::kParams,
      std::to_array<ParamSpec>({Str("name", kOptional, "a name for the session", 64)}));
  static Result<StartParams> FromJson(const json& p) {
    ASSIGN_OR_RETURN(SpecParams s, SpecParams::FromJson(p, true));
    StartParams r;
    static_cast<SpecParams&>(r) = std::move(s);
    ASSIGN_OR_RETURN(r.name, OptionalString(p, "name"));
    if (r.name.size() > 64) return InvalidArgument("name is longer than 64 characters");
    return r;
  }
};

// session.attach, .logs, .send and .kill share IdParams but declare only what
// each of them reads.
constexpr ParamSpec kSessionId = Str("id", kRequired, "the session's id or name");
constexpr ParamSpec kSessionStream =
    Int("stream", kOptional, "the stream id output is sent on (default 1)", 1, UINT32_MAX);
constexpr auto kAttachParams = std::to_array<ParamSpec>({
    kSessionId,
    kSessionStream,
    Bool("scrollback", "replay the session's scrollback first (default true)"),
    Int("cols", kOptional, "resize the terminal to this many columns", 0, kMaxSide),
    Int("rows", kOptional, "resize the terminal to this many rows", 0, kMaxSide),
});
constexpr auto kLogsParams = std::to_array<ParamSpec>({
    kSessionId,
    kSessionStream,
    Bool("follow", "keep sending output until the session ends"),
    Bool("scrollback", "with follow: replay the scrollback first (default true)"),
});
constexpr auto kSendParams = std::to_array<ParamSpec>(
    {kSessionId, Str("text", kRequired, "bytes for the session's stdin", 1 << 20)});
constexpr auto kKillParams = std::to_array<ParamSpec>(
    {kSessionId, Str("signal", kOptional, "signal name, e.g. TERM or SIGKILL (default TERM)", 16)});

struct IdParams {
  std::string id;
  uint32_t stream = 1;
  bool follow = false;      // logs
  bool scrollback = true;   // attach
  int64_t cols = 0, rows = 0;
  std::string signal;       // kill
  std::string text;         // send
  static Result<IdParams> FromJson(const json& p) {
    IdParams r;
    ASSIGN_OR_RETURN(r.id, RequiredString(p, "id"));
    ASSIGN_OR_RETURN(int64_t stream, OptionalInt(p, "stream", 1));
    r.stream = static_cast<uint32_t>(stream);
    ASSIGN_OR_RETURN(r.follow, OptionalBool(p, "follow"));
    ASSIGN_OR_RETURN(r.scrollback, OptionalBool(p, "scrollback", true));
    ASSIGN_OR_RETURN(r.cols, OptionalInt(p, "cols"));
    ASSIGN_OR_RETURN(r.rows, OptionalInt(p, "rows"));
    ASSIGN_OR_RETURN(r.signal, OptionalString(p, "signal"));
    ASSIGN_OR_RETURN(r.text, OptionalString(p, "text"));
    if (r.signal.rfind("SIG", 0) == 0) r.signal = r.signal.substr(3);
    return r;
  }
};

struct ListParams {
  std::string vm;
  static constexpr auto kParams =
      std::to_array<ParamSpec>({Str("vm", kOptional, "only this VM's sessions")});
  static Result<ListParams> FromJson(const json& p) {
    ListParams r;
    ASSIGN_OR_RETURN(r.vm, OptionalString(p, "vm"));
    return r;
  }
};

json InfoJson(const SessionInfo& i) { return SessionJson(i); }

// Runs start() (which reaches the guest), retrying while the VM is still
// booting or its guest not yet reachable when the caller asked to wait.
template <typename T>
Result<T> WhenReady(const SpecParams& r, std::stop_token stop,
                    const std::function<Result<T>()>& start) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(r.wait_timeout_s);
  while (true) {
    Result<T> got = start();
    if (got.ok() || got.error().code() != Code::kUnavailable) return got;
    if (!r.wait) {
      return Unavailable(got.error().message() + " (or pass --wait to wait until it is ready)");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceeded("VM " + r.vm + " was not ready within " +
                              std::to_string(r.wait_timeout_s) +
                              "s; last: " + got.error().message());
    }
    for (int i = 0; i < 10 && !stop.stop_requested(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (stop.stop_requested()) return Cancelled("waiting for VM " + r.vm + " cancelled");
  }
}

// A control payload from the client, or nullopt (logged) when it is malformed:
// a bad payload is refused whole and the stream goes on.
std::optional<StreamControl> ClientControl(std::string_view bytes) {
  Result<StreamControl> c = StreamControl::Parse(bytes);
  if (!c.ok()) {
    spdlog::debug("rpc: ignoring a control payload: {}", c.error().message());
    return std::nullopt;
  }
  return *std::move(c);
}

void ApplyInput(GuestProcess& proc, uint8_t channel, std::string_view bytes) {
  if (channel == kChannelStdin) {
    // Only a client ignoring the ack window overfills the bounded buffer.
    (void)proc.Write(bytes);
    return;
  }
  if (channel != kChannelControl) return;
  std::optional<StreamControl> c = ClientControl(bytes);
  if (!c) return;
  if (c->eof) proc.CloseStdin();
  if (c->signal) proc.Signal(*c->signal);
  if (c->resize) proc.Resize(c->resize->first, c->resize->second);
}

// Inbound stream frames for an exec. The sink is registered before the
// command starts (a client sends stdin at once), so frames that arrive
// earlier are held, in order, and handed over by Start(); the client's ack
// window bounds them (beyond it they are dropped).
class InputRouter {
 public:
  // The connection's sink (its reader thread).
  void OnFrame(uint8_t channel, std::string_view bytes) EXCLUDES(mu_) {
    std::shared_ptr<GuestProcess> proc;
    {
      MutexLock lock(&mu_);
      if (!proc_) {
        if (held_bytes_ + bytes.size() <= 2 * kStdinWindowBytes) {
          held_.push_back({channel, std::string(bytes)});
          held_bytes_ += bytes.size();
        }
        return;
      }
      proc = proc_;
    }
    ApplyInput(*proc, channel, bytes);  // no lock held: the process has its own
  }

  // Delivers what was held, then routes straight to `proc`.
  void Start(std::shared_ptr<GuestProcess> proc) EXCLUDES(mu_) {
    while (true) {
      std::vector<std::pair<uint8_t, std::string>> held;
      {
        MutexLock lock(&mu_);
        if (held_.empty()) {
          proc_ = proc;
          return;
        }
        held.swap(held_);
        held_bytes_ = 0;
      }
      for (auto& [channel, bytes] : held) ApplyInput(*proc, channel, bytes);
    }
  }

 private:
  Mutex mu_{LockRank::kLeaf, "exec input handoff"};
  std::vector<std::pair<uint8_t, std::string>> held_ GUARDED_BY(mu_);
  size_t held_bytes_ GUARDED_BY(mu_) = 0;
  std::shared_ptr<GuestProcess> proc_ GUARDED_BY(mu_);
};

Result<json> Exec(SessionRegistry* sessions, const ExecParams& r, CallContext& ctx) {
  auto router = std::make_shared<InputRouter>();
  ctx.on_stream(r.stream,
                [router](uint8_t channel, std::string_view bytes) { router->OnFrame(channel, bytes); });
  RETURN_IF_ERROR(ctx.send_stream(r.stream, kChannelControl, ControlReady()));
  ASSIGN_OR_RETURN(std::shared_ptr<GuestProcess> proc,
                   WhenReady<std::shared_ptr<GuestProcess>>(
                       r, ctx.stop, [&] { return sessions->links().Start(r.vm, r.spec); }));
  router->Start(proc);
  uint64_t acked = 0;
  while (true) {
    ProcessUpdate u = proc->Next(ctx.stop);
    Status sent = Status::Ok();
    if (!u.out.empty()) sent = ctx.send_stream(r.stream, kChannelStdout, u.out);
    if (sent.ok() && !u.err.empty()) sent = ctx.send_stream(r.stream, kChannelStderr, u.err);
    if (sent.ok() && u.stdin_written != acked) {
      acked = u.stdin_written;
      sent = ctx.send_stream(r.stream, kChannelControl, ControlAck(acked));
    }
    if (u.ended) {
      if (!u.error.ok()) return u.error;
      json out = {{"exit_code", u.exit_code ? json(*u.exit_code) : json(nullptr)}};
      if (!u.exit_code) out["signaled"] = true;
      return out;
    }
    if (!sent.ok() || ctx.stop.stop_requested()) {
      proc->Terminate();  // nobody is listening: hang up on the command
      return Cancelled("exec on VM " + r.vm + " cancelled; the command was hung up on");
    }
  }
}

Result<json> Attach(SessionRegistry* sessions, const IdParams& r, CallContext& ctx, bool input) {
  ASSIGN_OR_RETURN(std::unique_ptr<Attachment> a, sessions->Attach(r.id, r.scrollback));
  if (input) {
    if (r.cols > 0 && r.rows > 0) a->Resize(static_cast<int>(r.cols), static_cast<int>(r.rows));
    // The sink may outlive this call for a moment; it holds the session, not `a`.
    ASSIGN_OR_RETURN(SessionInfo info, sessions->Get(r.id));
    std::string id = info.id;
    ctx.on_stream(r.stream, [sessions, id](uint8_t channel, std::string_view bytes) {
      if (channel == kChannelStdin) {
        (void)sessions->Send(id, bytes);  // dropped when the session's input is full
        return;
      }
      if (channel != kChannelControl) return;
      std::optional<StreamControl> c = ClientControl(bytes);
      if (c && c->resize) (void)sessions->Resize(id, c->resize->first, c->resize->second);
    });
    RETURN_IF_ERROR(ctx.send_stream(r.stream, kChannelControl, ControlReady()));
  }
  while (true) {
    Attachment::Chunk c = a->Next(ctx.stop);
    if (!c.bytes.empty()) {
      Status sent = ctx.send_stream(r.stream, kChannelStdout, c.bytes);
      if (!sent.ok()) return Cancelled("client went away");
    }
    if (c.ended || ctx.stop.stop_requested()) {
      json out = InfoJson(a->Info());
      out["detached"] = !c.ended;
      return out;
    }
  }
}

Result<json> Logs(SessionRegistry* sessions, const IdParams& r, CallContext& ctx) {
  if (r.follow) return Attach(sessions, r, ctx, false);
  ASSIGN_OR_RETURN(std::string text, sessions->Scrollback(r.id));
  if (!text.empty()) RETURN_IF_ERROR(ctx.send_stream(r.stream, kChannelStdout, text));
  ASSIGN_OR_RETURN(SessionInfo info, sessions->Get(r.id));
  return InfoJson(info);
}

}  // namespace

std::vector<MethodRow> SessionMethods(const Services& s) {
  SessionRegistry* sessions = s.sessions;
  return {
      Method<ExecParams>(
          "vm.exec", Mutation::kMutating,
          {.summary = "Runs a command in the guest, streaming stdin/stdout/stderr.",
           .result = "{exit_code, signaled?}",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kFailedPrecondition, "the VM is not running"},
                      {Code::kUnavailable, "the guest did not become reachable"},
                      {Code::kCancelled, "the client went away (the command is hung up on)"}},
           .notifications = "stream frames on the given stream id; control {ready} once started"},
          [sessions](const ExecParams& r, CallContext& ctx) { return Exec(sessions, r, ctx); }),
      Method<StartParams>(
          "session.start", Mutation::kMutating,
          {.summary = "Starts a detached session (a shell or command that outlives the client).",
           .result = "SESSION {id, name, vm, argv, tty, state, error, started_ms, ended_ms, "
                     "attached, output_bytes, exit_code}; with follow, as session.attach",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kAlreadyExists, "a session of that name exists"},
                      {Code::kResourceExhausted, "max sessions are running"},
                      {Code::kUnavailable, "the guest did not become reachable"}}},
          [sessions](const StartParams& r, CallContext& ctx) -> Result<json> {
            ASSIGN_OR_RETURN(SessionInfo info, WhenReady<SessionInfo>(r, ctx.stop, [&] {
                               return sessions->Start(r.vm, r.name, r.spec);
                             }));
            return InfoJson(info);
          }),
      Method<ListParams>("session.ls", Mutation::kReadOnly,
                         {.summary = "Lists sessions, of one VM or all.",
                          .result = "{sessions: [SESSION]}",
                          .errors = {}},
                         [sessions](const ListParams& r, CallContext&) -> Result<json> {
                           json list = json::array();
                           for (const SessionInfo& i : sessions->List(r.vm)) {
                             list.push_back(InfoJson(i));
                           }
                           return json{{"sessions", list}};
                         }),
      Method<IdParams>(
          "session.attach", Mutation::kMutating,
          {.summary =
               "Attaches to a session: scrollback, then live output; input and resize go to it.",
           .result = "SESSION plus {detached}",
           .errors = {{Code::kNotFound, "no such session"}},
           .notifications = "stream frames on the given stream id"},
          kAttachParams,
          [sessions](const IdParams& r, CallContext& ctx) {
            return Attach(sessions, r, ctx, true);
          }),
      Method<IdParams>(
          "session.logs", Mutation::kReadOnly,
          {.summary = "Sends a session's scrollback (and with follow, its live output).",
           .result = "SESSION",
           .errors = {{Code::kNotFound, "no such session"}},
           .notifications = "stream frames on the given stream id"},
          kLogsParams,
          [sessions](const IdParams& r, CallContext& ctx) { return Logs(sessions, r, ctx); }),
      Method<IdParams>("session.send", Mutation::kMutating,
                       {.summary = "Writes input to a session without attaching.",
                        .result = "{id, bytes}",
                        .errors = {{Code::kNotFound, "no such session"},
                                   {Code::kFailedPrecondition, "the session has ended"}}},
                       kSendParams,
                       [sessions](const IdParams& r, CallContext&) -> Result<json> {
                         RETURN_IF_ERROR(sessions->Send(r.id, r.text));
                         return json{{"id", r.id}, {"bytes", r.text.size()}};
                       }),
      Method<IdParams>(
          "session.kill", Mutation::kMutating,
          {.summary =
               "Signals a running session (TERM and hang-up by default); forgets an ended one.",
           .result = "SESSION",
           .errors = {{Code::kNotFound, "no such session"}}},
          kKillParams,
          [sessions](const IdParams& r, CallContext&) -> Result<json> {
            ASSIGN_OR_RETURN(SessionInfo info, sessions->Kill(r.id, r.signal));
            return InfoJson(info);
          }),
  };
}

}  // namespace warren::rpc

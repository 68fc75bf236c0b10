#include "rpc/test_methods.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "rpc/errors.h"
#include "rpc/frame.h"
#include "rpc/stream_control.h"

namespace warren::rpc::testing {

using nlohmann::json;

namespace {

struct NeedNameRequest {
  std::string name;
  static constexpr auto kParams = std::to_array<ParamSpec>({Str("name", kRequired, "a name")});
  static Result<NeedNameRequest> FromJson(const json& params) {
    NeedNameRequest req;
    ASSIGN_OR_RETURN(req.name, RequiredString(params, "name"));
    return req;
  }
};

struct SleepRequest {
  int64_t ms = 0;
  static constexpr auto kParams =
      std::to_array<ParamSpec>({Int("ms", kRequired, "how long", 0, 3600 * 1000)});
  static Result<SleepRequest> FromJson(const json& params) {
    SleepRequest req;
    ASSIGN_OR_RETURN(req.ms, RequiredInt(params, "ms"));
    return req;
  }
};

struct CountRequest {
  int64_t n = 0;
  static constexpr auto kParams =
      std::to_array<ParamSpec>({Int("n", kOptional, "how many", 0, 1 << 20)});
  static Result<CountRequest> FromJson(const json& params) {
    CountRequest req;
    ASSIGN_OR_RETURN(req.n, OptionalInt(params, "n", 1));
    return req;
  }
};

struct StreamRequest {
  int64_t stream = 0;
  static constexpr auto kParams =
      std::to_array<ParamSpec>({Int("stream", kRequired, "stream id", 1, UINT32_MAX)});
  static Result<StreamRequest> FromJson(const json& params) {
    StreamRequest req;
    ASSIGN_OR_RETURN(req.stream, RequiredInt(params, "stream"));
    return req;
  }
};

struct Empty {
  static constexpr std::array<ParamSpec, 0> kParams{};
  static Result<Empty> FromJson(const json&) { return Empty{}; }
};

Result<json> Sleep(const SleepRequest& req, CallContext& ctx) {
  RETURN_IF_ERROR(ctx.notify("started", json::object()));
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  bool stopped =
      cv.wait_for(lock, ctx.stop, std::chrono::milliseconds(req.ms), [] { return false; });
  (void)stopped;
  if (ctx.stop.stop_requested()) return Cancelled("sleep cancelled");
  return json{{"slept", req.ms}};
}

Result<json> StreamEcho(const StreamRequest& req, CallContext& ctx) {
  struct State {
    std::mutex mu;
    std::condition_variable_any cv;
    std::deque<std::string> chunks;
    bool eof = false;
  };
  auto state = std::make_shared<State>();
  const auto stream = static_cast<uint32_t>(req.stream);
  ctx.on_stream(stream, [state](uint8_t channel, std::string_view bytes) {
    std::lock_guard<std::mutex> lock(state->mu);
    if (channel == kChannelControl) {
      state->eof = true;
    } else {
      state->chunks.emplace_back(bytes);
    }
    state->cv.notify_all();
  });
  RETURN_IF_ERROR(ctx.notify("ready", json::object()));
  int64_t total = 0;
  while (true) {
    std::string chunk;
    {
      std::unique_lock<std::mutex> lock(state->mu);
      state->cv.wait(lock, ctx.stop, [&] { return state->eof || !state->chunks.empty(); });
      if (ctx.stop.stop_requested()) return Cancelled("stream_echo cancelled");
      if (state->chunks.empty()) break;
      chunk = std::move(state->chunks.front());
      state->chunks.pop_front();
    }
    total += static_cast<int64_t>(chunk.size());
    RETURN_IF_ERROR(ctx.send_stream(stream, kChannelStdout, chunk));
  }
  return json{{"bytes", total}};
}

// Reports each control frame on stdout as "ok:<payload re-encoded>\n" or
// "refused\n", as the daemon's session sinks read them; ends on eof.
Result<json> StreamControlEcho(const StreamRequest& req, CallContext& ctx) {
  struct State {
    std::mutex mu;
    std::condition_variable_any cv;
    std::deque<std::string> lines;
    bool eof = false;
  };
  auto state = std::make_shared<State>();
  const auto stream = static_cast<uint32_t>(req.stream);
  ctx.on_stream(stream, [state](uint8_t channel, std::string_view bytes) {
    if (channel != kChannelControl) return;
    Result<StreamControl> c = StreamControl::Parse(bytes);
    std::lock_guard<std::mutex> lock(state->mu);
    state->lines.push_back(c.ok() ? "ok:" + c->Encode() + "\n" : "refused\n");
    if (c.ok() && c->eof) state->eof = true;
    state->cv.notify_all();
  });
  RETURN_IF_ERROR(ctx.notify("ready", json::object()));
  while (true) {
    std::deque<std::string> lines;
    bool eof = false;
    {
      std::unique_lock<std::mutex> lock(state->mu);
      state->cv.wait(lock, ctx.stop, [&] { return state->eof || !state->lines.empty(); });
      if (ctx.stop.stop_requested()) return Cancelled("stream_control cancelled");
      lines.swap(state->lines);
      eof = state->eof;
    }
    for (const std::string& line : lines) {
      RETURN_IF_ERROR(ctx.send_stream(stream, kChannelStdout, line));
    }
    if (eof) return json{{"eof", true}};
  }
}

// The session sinks as they were: control payloads read as untyped JSON, so
// {"resize":["a",1]} throws nlohmann::json::type_error on the reader thread.
Result<json> UntypedControl(const StreamRequest& req, CallContext& ctx) {
  int applied = 0;
  ctx.on_stream(static_cast<uint32_t>(req.stream), [&applied](uint8_t, std::string_view bytes) {
    json c = json::parse(bytes, nullptr, false);
    if (!c.is_object()) return;
    if (c.value("eof", false)) ++applied;
    if (c.contains("resize")) applied += c["resize"][0].get<int>();
  });
  RETURN_IF_ERROR(ctx.notify("ready", json::object()));
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, ctx.stop, [] { return false; });
  return Cancelled("untyped_control ends when its client goes");
}

}  // namespace

std::unique_ptr<Dispatcher> MakeTestDispatcher() {
  std::vector<MethodRow> rows;
  rows.push_back({"echo", Mutation::kReadOnly,
                  [](const json& params, CallContext&) -> Result<json> { return params; }});
  rows.push_back(
      Method<NeedNameRequest>("need_name", Mutation::kReadOnly,
                              [](const NeedNameRequest& req, CallContext&) -> Result<json> {
                                return json{{"hello", req.name}};
                              }));
  rows.push_back(Method<SleepRequest>("sleep", Mutation::kReadOnly, Sleep));
  rows.push_back(
      Method<CountRequest>("notify_n", Mutation::kReadOnly,
                           [](const CountRequest& req, CallContext& ctx) -> Result<json> {
                             for (int64_t i = 0; i < req.n; ++i)
                               RETURN_IF_ERROR(ctx.notify("progress", {{"i", i}}));
                             return json{{"sent", req.n}};
                           }));
  rows.push_back(Method<StreamRequest>("stream_echo", Mutation::kReadOnly, StreamEcho));
  rows.push_back(
      Method<StreamRequest>("stream_control", Mutation::kReadOnly, StreamControlEcho));
  rows.push_back(Method<StreamRequest>("untyped_control", Mutation::kReadOnly, UntypedControl));
  rows.push_back(
      {"fail", Mutation::kReadOnly, [](const json& params, CallContext&) -> Result<json> {
         auto code = CodeFromSlug(params.value("code", "internal"));
         return Status(code.value_or(Code::kInternal), "asked to fail");
       }});
  rows.push_back(
      Method<Empty>("mutate", Mutation::kMutating,
                    [](const Empty&, CallContext&) -> Result<json> { return json::object(); }));
  return std::make_unique<Dispatcher>(std::move(rows));
}

}  // namespace warren::rpc::testing

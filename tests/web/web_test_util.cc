#include "web/web_test_util.h"

#include <condition_variable>
#include <deque>
#include <mutex>

#include "base/check.h"
#include "rpc/frame.h"
#include "rpc/snapshot_lists.h"

namespace warren::web::testing {

using nlohmann::json;

namespace {

struct NoParams {
  static constexpr std::array<rpc::ParamSpec, 0> kParams{};
  static Result<NoParams> FromJson(const json&) { return NoParams{}; }
};

Result<json> StreamEcho(const json& params, rpc::CallContext& ctx) {
  struct State {
    std::mutex mu;
    std::condition_variable_any cv;
    std::deque<std::string> chunks;
    bool eof = false;
  };
  auto state = std::make_shared<State>();
  const auto stream = params.value("stream", 0u);
  ctx.on_stream(stream, [state](uint8_t channel, std::string_view bytes) {
    std::lock_guard<std::mutex> lock(state->mu);
    if (channel == rpc::kChannelControl) {
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
    RETURN_IF_ERROR(ctx.send_stream(stream, rpc::kChannelStdout, chunk));
  }
  return json{{"bytes", total}};
}

}  // namespace

std::unique_ptr<rpc::Dispatcher> MakeWebTestDispatcher() {
  std::vector<rpc::MethodRow> rows;
  rows.push_back(rpc::Method<NoParams>(
      "daemon.ping", rpc::Mutation::kReadOnly,
      [](const NoParams&, rpc::CallContext&) -> Result<json> { return json::object(); }));
  rows.push_back({"notify_n", rpc::Mutation::kReadOnly,
                  [](const json& params, rpc::CallContext& ctx) -> Result<json> {
                    const int n = params.value("n", 0);
                    for (int i = 0; i < n; ++i) RETURN_IF_ERROR(ctx.notify("progress", {{"i", i}}));
                    return json{{"sent", n}};
                  }});
  rows.push_back({"sleep", rpc::Mutation::kReadOnly,
                  [](const json&, rpc::CallContext& ctx) -> Result<json> {
                    std::mutex mu;
                    std::condition_variable_any cv;
                    std::unique_lock<std::mutex> lock(mu);
                    cv.wait_for(lock, ctx.stop, std::chrono::seconds(60), [] { return false; });
                    return Cancelled("sleep cancelled");
                  }});
  rows.push_back({"stream_echo", rpc::Mutation::kReadOnly, StreamEcho});
  // The lists a page is served with (kServedVmName tries to end their <script>).
  for (const auto& [field_view, method] : rpc::kSnapshotLists) {
    const std::string field(field_view);
    json answer = {{field, json::array()}};
    if (field == "vms") answer[field].push_back({{"name", kServedVmName}});
    rows.push_back({std::string(method), rpc::Mutation::kReadOnly,
                    [answer](const json&, rpc::CallContext&) -> Result<json> { return answer; }});
  }
  return std::make_unique<rpc::Dispatcher>(std::move(rows));
}

RunningServer::RunningServer(WebServerOptions options)
    : dispatcher_(MakeWebTestDispatcher()), auth_(WebAuth::ForTest(kToken)) {
  options.host = "127.0.0.1";
  options.port = 0;
  Result<std::unique_ptr<WebServer>> s =
      WebServer::Listen(std::move(options), dispatcher_.get(), auth_.get());
  CHECK(s.ok());
  server_ = std::move(*s);
  const std::string& addr = server_->address();
  port_ = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
  thread_ = std::thread([s = server_.get()] { s->Serve(); });
}

RunningServer::~RunningServer() {
  server_->Shutdown();
  thread_.join();
}

HttpClient::HttpClient(uint16_t port) : port_(port) {
  std::optional<beast::error_code> result;
  stream_.expires_after(kDeadline);
  stream_.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                        [&](beast::error_code ec) { result = ec; });
  connected_ = RunUntil(ioc_, [&] { return result.has_value(); }) && !*result;
}

std::optional<HttpResponse> HttpClient::Send(HttpRequest req) {
  if (req.find(http::field::host) == req.end()) {
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
  }
  req.prepare_payload();
  std::optional<beast::error_code> wrote, read;
  HttpResponse res;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);
  stream_.expires_after(kDeadline);
  http::async_write(stream_, req, [&](beast::error_code ec, size_t) {
    wrote = ec;
    if (ec) return;
    http::async_read(stream_, buf_, parser, [&](beast::error_code ec2, size_t) { read = ec2; });
  });
  if (!RunUntil(ioc_, [&] { return (wrote && *wrote) || read.has_value(); })) return std::nullopt;
  if (*wrote || *read) return std::nullopt;
  return parser.release();
}

bool HttpClient::WriteRaw(std::string_view bytes) {
  std::optional<beast::error_code> result;
  stream_.expires_after(kDeadline);
  asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()),
                    [&](beast::error_code ec, size_t) { result = ec; });
  return RunUntil(ioc_, [&] { return result.has_value(); }) && !*result;
}

bool HttpClient::ReadUntilClosed(std::string* got) {
  std::optional<beast::error_code> result;
  std::string data;
  std::array<char, 4096> chunk;
  std::function<void()> read_more = [&] {
    stream_.async_read_some(asio::buffer(chunk), [&](beast::error_code ec, size_t n) {
      if (ec) {
        result = ec;
        return;
      }
      data.append(chunk.data(), n);
      read_more();
    });
  };
  stream_.expires_after(kDeadline);
  read_more();
  bool done = RunUntil(ioc_, [&] { return result.has_value(); });
  if (got) *got = data;
  return done && *result != beast::error::timeout;
}

HttpRequest Get(std::string target, uint16_t port, std::string cookie) {
  HttpRequest req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  if (!cookie.empty()) req.set(http::field::cookie, std::string(kSessionCookie) + "=" + cookie);
  return req;
}

std::string CookieFromLogin(uint16_t port) {
  HttpClient c(port);
  std::optional<HttpResponse> r = c.Send(Get(std::string("/?token=") + kToken, port));
  if (!r || r->result() != http::status::see_other) return "";
  return CookieNamed(std::string((*r)[http::field::set_cookie]), kSessionCookie);
}

WsClient::WsClient(uint16_t port, std::string cookie, std::string origin) {
  const std::string host = "127.0.0.1:" + std::to_string(port);
  if (origin.empty()) origin = "http://" + host;
  std::optional<beast::error_code> connected, upgraded;
  websocket::response_type res;
  beast::get_lowest_layer(ws_).expires_after(kDeadline);
  beast::get_lowest_layer(ws_).async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
        connected = ec;
        if (ec) return;
        beast::get_lowest_layer(ws_).expires_never();
        websocket::stream_base::timeout t{kDeadline, kDeadline, false};
        ws_.set_option(t);
        ws_.set_option(websocket::stream_base::decorator([=](websocket::request_type& req) {
          if (!cookie.empty()) req.set(http::field::cookie, "warren_session=" + cookie);
          if (origin != "-") req.set(http::field::origin, origin);
        }));
        ws_.async_handshake(res, host, "/ws", [&](beast::error_code ec2) { upgraded = ec2; });
      });
  RunUntil(ioc_, [&] { return (connected && *connected) || upgraded.has_value(); });
  status_ = upgraded && !*upgraded ? 101 : static_cast<int>(res.result_int());
}

bool WsClient::Write(bool binary, std::string_view msg) {
  std::optional<beast::error_code> result;
  ws_.binary(binary);
  ws_.async_write(asio::buffer(msg.data(), msg.size()),
                  [&](beast::error_code ec, size_t) { result = ec; });
  return RunUntil(ioc_, [&] { return result.has_value(); }) && !*result;
}

std::optional<std::string> WsClient::Read(bool* binary) {
  std::optional<beast::error_code> result;
  buf_.consume(buf_.size());
  ws_.async_read(buf_, [&](beast::error_code ec, size_t) { result = ec; });
  if (!RunUntil(ioc_, [&] { return result.has_value(); }) || *result) return std::nullopt;
  if (binary) *binary = ws_.got_binary();
  return beast::buffers_to_string(buf_.data());
}

std::optional<json> WsClient::ReadJson() {
  bool binary = false;
  std::optional<std::string> msg = Read(&binary);
  if (!msg || binary) return std::nullopt;
  return json::parse(*msg, nullptr, false);
}

std::optional<json> WsClient::ReadResponse(int id, std::vector<json>* notes) {
  while (true) {
    std::optional<json> m = ReadJson();
    if (!m) return std::nullopt;
    if (m->contains("id") && (*m)["id"] == id) return m;
    if (notes) notes->push_back(*m);
  }
}

}  // namespace warren::web::testing

#include "web/connection.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <optional>
#include <thread>

#include "rpc/frame.h"

namespace warren::web {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// One connection's state machine: HTTP requests, then (after an upgrade) the
// WebSocket ⇄ socketpair bridge. Lives on WebConnection::Run's stack; every
// handler runs on that thread's io_context.
class Session {
 public:
  Session(asio::io_context& ioc, int fd, const WebLimits& limits, const RouterConfig& router,
          const rpc::Dispatcher* dispatcher, int stop_fd)
      : limits_(limits),
        router_(router),
        dispatcher_(dispatcher),
        stop_fd_(stop_fd),
        stream_(ioc),
        pair_(ioc),
        decoder_(limits.rpc.max_frame_bytes) {
    beast::error_code ec;
    stream_.socket().assign(tcp::v4(), fd, ec);
    if (ec) ::close(fd);
  }

  void Start() { ReadRequest(); }

  // After the io_context stopped: end the bridge and join the rpc side.
  void Finish() {
    beast::error_code ignored;
    pair_.close(ignored);
    if (rpc_thread_.joinable()) rpc_thread_.join();
  }

 private:
  // ---- HTTP ----
  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits_.max_header_bytes));
    parser_->body_limit(limits_.max_body_bytes);
    stream_.expires_after(limits_.header_timeout);
    http::async_read(stream_, buf_, *parser_,
                     [this](beast::error_code ec, size_t) { OnRequest(ec); });
  }

  void OnRequest(beast::error_code ec) {
    if (ec) spdlog::debug("web: reading a request: {}", ec.message());
    if (ec == http::error::header_limit) {
      return Send(TextResponse(http::status::request_header_fields_too_large,
                               "request head too large"),
                  true);
    }
    if (ec == http::error::body_limit) {
      return Send(TextResponse(http::status::payload_too_large, "request body too large"), true);
    }
    if (ec && (ec == http::error::end_of_stream || ec == beast::error::timeout ||
               ec.category() == asio::error::get_system_category() ||
               ec.category() == asio::error::get_misc_category())) {
      return CloseTcp();  // gone, or too slow: nothing to answer
    }
    if (ec) return Send(TextResponse(http::status::bad_request, "malformed request"), true);
    HttpRequest req = parser_->release();
    Routed routed = Route(req, router_);
    if (routed.upgrade) return Upgrade(std::move(req));
    Send(std::move(routed.response), !req.keep_alive());
  }

  void Send(HttpResponse response, bool close) {
    response_ = std::move(response);
    response_.keep_alive(!close);
    stream_.expires_after(limits_.write_timeout);
    http::async_write(stream_, response_, [this, close](beast::error_code ec, size_t) {
      if (ec || close) return CloseTcp();
      ReadRequest();
    });
  }

  void CloseTcp() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  // ---- WebSocket ----
  void Upgrade(HttpRequest req) {
    stream_.expires_never();  // the websocket stream keeps its own timers
    ws_.emplace(std::move(stream_));
    websocket::stream_base::timeout t;
    t.handshake_timeout = limits_.header_timeout;
    t.idle_timeout = limits_.ws_idle_timeout;
    t.keep_alive_pings = true;
    ws_->set_option(t);
    ws_->read_message_max(limits_.max_message_bytes);
    upgrade_req_ = std::move(req);
    ws_->async_accept(upgrade_req_, [this](beast::error_code ec) {
      if (ec) return;
      if (!StartBridge()) return CloseWs(websocket::close_code::try_again_later);
      ReadWs();
      ReadPair();
    });
  }

  bool StartBridge() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      spdlog::error("web: socketpair failed: {}", std::strerror(errno));
      return false;
    }
    auto conn = std::make_shared<rpc::Connection>(sv[1], limits_.peer, stop_fd_, limits_.rpc,
                                                  dispatcher_);
    beast::error_code ec;
    pair_.assign(asio::local::stream_protocol(), sv[0], ec);
    if (ec) {
      ::close(sv[0]);
      return false;  // conn's destructor closes sv[1]
    }
    try {
      rpc_thread_ = std::thread([conn] { conn->Run(); });
    } catch (const std::exception& e) {
      spdlog::error("web: cannot serve a WebSocket: {}", e.what());
      return false;
    }
    return true;
  }

  void ReadWs() {
    ws_->async_read(ws_in_, [this](beast::error_code ec, size_t) {
      if (ec) return ClosePair();
      std::string msg = beast::buffers_to_string(ws_in_.data());
      ws_in_.consume(ws_in_.size());
      std::optional<std::string> frame = WsMessageToRpcFrame(ws_->got_text(), msg);
      if (!frame) {
        ClosePair();
        return CloseWs(websocket::close_code::policy_error);
      }
      pair_out_ = std::move(*frame);
      asio::async_write(pair_, asio::buffer(pair_out_), [this](beast::error_code ec, size_t) {
        if (ec) return CloseWs(websocket::close_code::going_away);
        ReadWs();
      });
    });
  }

  void ReadPair() {
    pair_.async_read_some(asio::buffer(pair_in_), [this](beast::error_code ec, size_t n) {
      if (ec) return CloseWs(websocket::close_code::going_away);
      decoder_.Feed(std::string_view(pair_in_.data(), n));
      while (true) {
        Result<std::optional<rpc::Frame>> next = decoder_.Next();
        if (!next.ok()) {
          spdlog::error("web: the daemon side of a WebSocket sent a bad frame: {}",
                        next.error().message());
          ClosePair();
          return CloseWs(websocket::close_code::internal_error);
        }
        if (!next->has_value()) break;
        out_.push_back(RpcFrameToWsMessage(**next));
      }
      WriteOut();
    });
  }

  // Messages go out one at a time; the pair is read again only when all are
  // sent, so a browser that does not read pushes back on the daemon.
  void WriteOut() {
    if (out_.empty()) return ReadPair();
    ws_->binary(out_.front().first);
    ws_->async_write(asio::buffer(out_.front().second), [this](beast::error_code ec, size_t) {
      if (ec) return ClosePair();
      out_.pop_front();
      WriteOut();
    });
  }

  void CloseWs(websocket::close_code code) {
    if (ws_closing_ || !ws_) return;
    ws_closing_ = true;
    ws_->async_close(code, [](beast::error_code) {});
  }

  void ClosePair() {
    beast::error_code ignored;
    pair_.close(ignored);
  }

  const WebLimits& limits_;
  const RouterConfig& router_;
  const rpc::Dispatcher* const dispatcher_;
  const int stop_fd_;

  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpResponse response_;
  HttpRequest upgrade_req_;

  std::optional<websocket::stream<beast::tcp_stream>> ws_;
  bool ws_closing_ = false;
  beast::flat_buffer ws_in_;
  asio::local::stream_protocol::socket pair_;
  std::array<char, 64 * 1024> pair_in_;
  std::string pair_out_;
  rpc::FrameDecoder decoder_;
  std::deque<std::pair<bool, std::string>> out_;  // (binary, message)
  std::thread rpc_thread_;
};

}  // namespace

std::optional<std::string> WsMessageToRpcFrame(bool text, std::string_view msg) {
  if (text) return rpc::EncodeJsonFrame(msg);
  if (msg.size() < rpc::kStreamHeaderBytes) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(msg.data());
  const uint32_t stream = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                          (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  return rpc::EncodeStreamFrame(stream, p[4], msg.substr(rpc::kStreamHeaderBytes));
}

std::pair<bool, std::string> RpcFrameToWsMessage(const rpc::Frame& f) {
  if (f.kind == rpc::FrameKind::kJson) return {false, f.payload};
  std::string framed = rpc::EncodeStreamFrame(f.stream, f.channel, f.payload);
  return {true, framed.substr(rpc::kFrameHeaderBytes)};
}

WebConnection::WebConnection(int fd, const WebLimits* limits, const RouterConfig* router,
                             const rpc::Dispatcher* dispatcher, int stop_fd)
    : fd_(fd), limits_(limits), router_(router), dispatcher_(dispatcher), stop_fd_(stop_fd) {}

WebConnection::~WebConnection() {
  if (!ran_) ::close(fd_);
}

void WebConnection::Run() {
  ran_ = true;
  // Nothing a client sends may throw past this point: this connection ends, the daemon goes on.
  try {
    Session session(ioc_, fd_, *limits_, *router_, dispatcher_, stop_fd_);
    session.Start();
    try {
      ioc_.run();
    } catch (const std::exception& e) {
      spdlog::error("web: dropping a connection: {}", e.what());
    }
    session.Finish();
  } catch (const std::exception& e) {
    spdlog::error("web: dropping a connection: {}", e.what());
  }
  done_.store(true, std::memory_order_release);
}

}  // namespace warren::web

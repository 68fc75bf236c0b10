#pragma once

// Internal to the web server: one accepted TCP connection.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "rpc/connection.h"
#include "rpc/dispatcher.h"
#include "sys/accept_loop.h"
#include "web/router.h"

namespace warren::web {

// The bridge's translation, pure (the fuzzer drives it). A text message is one
// JSON-RPC message → a kJson frame; a binary one is a kStream payload (u32 BE
// stream id | u8 channel | bytes) → a kStream frame; nullopt when a binary
// message is shorter than the stream sub-header.
std::optional<std::string> WsMessageToRpcFrame(bool text, std::string_view message);
// A frame from the daemon side → (binary?, message).
std::pair<bool, std::string> RpcFrameToWsMessage(const rpc::Frame& frame);

struct WebLimits {
  size_t max_header_bytes = 8 * 1024;  // request line + headers
  size_t max_body_bytes = 4 * 1024;
  // The whole request head must arrive within this (slowloris); also the wait
  // for the next request on a kept-alive connection, and the WebSocket handshake.
  std::chrono::milliseconds header_timeout{10000};
  // A response or WebSocket message the client does not take within this ends it.
  std::chrono::milliseconds write_timeout{30000};
  // A WebSocket with no traffic (the server pings at half this) is closed.
  std::chrono::milliseconds ws_idle_timeout{300000};
  uint32_t max_message_bytes = 4 << 20;  // one WebSocket message (JSON or stream frame)
  rpc::ConnectionLimits rpc{4 << 20, 16, std::chrono::milliseconds(600000),
                            std::chrono::milliseconds(10000)};
  // Given to the dispatcher as the caller of every bridged call: the daemon's own user.
  rpc::PeerCred peer;
};

// Serves HTTP on one socket with Boost.Beast; after an accepted WebSocket
// upgrade it bridges the socket to an rpc::Connection over a socketpair, so
// the browser speaks the unix socket's protocol through the same Dispatcher:
// text message ⇄ kJson frame, binary message ⇄ kStream payload.
//
// Threads: Run() is the connection's own thread, running a private io_context
// (every handler runs on it, so the session state needs no lock); the bridged
// rpc::Connection runs on a second thread (plus its worker), joined by Run().
// Stop() may be called from any thread, any number of times.
class WebConnection : public sys::ServedConnection {
 public:
  WebConnection(int fd, const WebLimits* limits, const RouterConfig* router,
                const rpc::Dispatcher* dispatcher, int stop_fd);
  ~WebConnection();

  void Run() override;
  void Stop() override { ioc_.stop(); }
  bool done() const override { return done_.load(std::memory_order_acquire); }

 private:
  boost::asio::io_context ioc_{1};
  const int fd_;
  const WebLimits* const limits_;
  const RouterConfig* const router_;
  const rpc::Dispatcher* const dispatcher_;
  const int stop_fd_;
  std::atomic<bool> done_{false};
  bool ran_ = false;  // Run() took fd_ (touched by the Run thread only)
};

}  // namespace warren::web

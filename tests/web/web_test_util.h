#pragma once

// Beast clients for the web server tests: every operation is asynchronous on a
// private io_context with a deadline, so a test never hangs.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rpc/dispatcher.h"
#include "web/auth.h"
#include "web/server.h"

namespace warren::web::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

inline constexpr std::chrono::seconds kDeadline{10};
inline constexpr char kToken[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
// The one VM the test dispatcher's vm.list answers with.
inline constexpr char kServedVmName[] = "a</script><script>alert(1)</script><!--";

// Rows for transport tests: daemon.ping → {}; notify_n {n} → n "progress"
// notifications then {"sent": n}; sleep → waits for its stop token (Cancelled);
// stream_echo {stream} → notifies "ready", echoes stdin to stdout until a
// control frame, then {"bytes": total}.
std::unique_ptr<rpc::Dispatcher> MakeWebTestDispatcher();

// A WebServer on 127.0.0.1 port 0 serving on its own thread.
class RunningServer {
 public:
  explicit RunningServer(WebServerOptions options = {});
  ~RunningServer();
  WebServer& server() { return *server_; }
  WebAuth& auth() { return *auth_; }
  uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::unique_ptr<rpc::Dispatcher> dispatcher_;
  std::unique_ptr<WebAuth> auth_;
  std::unique_ptr<WebServer> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// One HTTP/1.1 client connection.
class HttpClient {
 public:
  explicit HttpClient(uint16_t port);
  bool connected() const { return connected_; }
  // Sends `req` (Host defaults to 127.0.0.1:port) and reads the response;
  // nullopt on a connection error or the deadline.
  std::optional<HttpResponse> Send(HttpRequest req);
  // Raw bytes out, and whether the server then closes the connection (EOF or reset).
  bool WriteRaw(std::string_view bytes);
  // Reads whatever arrives until the server closes (true) or the deadline (false).
  bool ReadUntilClosed(std::string* got);
  beast::tcp_stream& stream() { return stream_; }

 private:
  uint16_t port_;
  asio::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buf_;
  bool connected_ = false;
};

HttpRequest Get(std::string target, uint16_t port, std::string cookie = "");
std::string CookieFromLogin(uint16_t port);

// A WebSocket client speaking the daemon protocol.
class WsClient {
 public:
  WsClient(uint16_t port, std::string cookie, std::string origin = "");
  // The upgrade's outcome: 101 on success, else the HTTP status refused with.
  int status() const { return status_; }
  bool Write(bool binary, std::string_view msg);
  bool WriteJson(const nlohmann::json& msg) { return Write(false, msg.dump()); }
  // The next message; nullopt when the socket closed or the deadline passed.
  std::optional<std::string> Read(bool* binary = nullptr);
  std::optional<nlohmann::json> ReadJson();
  // Reads JSON messages up to (and returning) the response with this id.
  std::optional<nlohmann::json> ReadResponse(int id, std::vector<nlohmann::json>* notes = nullptr);

 private:
  asio::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_{ioc_};
  beast::flat_buffer buf_;
  int status_ = 0;
};

// Runs `ioc` until `done` or kDeadline.
template <typename Done>
bool RunUntil(asio::io_context& ioc, Done done) {
  ioc.restart();
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    ioc.run_one_for(std::chrono::milliseconds(100));
    if (ioc.stopped()) ioc.restart();
  }
  return done();
}

}  // namespace warren::web::testing

// The WebSocket side of the web server: after a real upgrade handshake,
// arbitrary client bytes go to Beast's frame decoder (server role, the
// server's message limit); every message is translated into a daemon frame,
// decoded back with the RPC frame decoder and translated out again.
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rpc/frame.h"
#include "web/connection.h"

namespace beast = boost::beast;
namespace websocket = beast::websocket;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  boost::asio::io_context ioc;
  websocket::stream<beast::test::stream> ws(ioc);
  beast::test::stream peer(ioc);  // takes what the server writes (101, pongs, close)
  ws.next_layer().connect(peer);
  ws.next_layer().append(
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:7780\r\nUpgrade: websocket\r\n"
      "Connection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:7780\r\n\r\n");
  beast::error_code ec;
  ws.accept(ec);
  if (ec) __builtin_trap();  // the handshake above is valid
  ws.read_message_max(64 * 1024);
  ws.next_layer().append(std::string_view(reinterpret_cast<const char*>(data), size));
  ws.next_layer().close_remote();
  beast::flat_buffer buf;
  for (int i = 0; i < 1000; ++i) {
    ws.read(buf, ec);
    if (ec) break;
    std::string msg = beast::buffers_to_string(buf.data());
    buf.consume(buf.size());
    std::optional<std::string> frame = warren::web::WsMessageToRpcFrame(ws.got_text(), msg);
    if (!frame) continue;
    warren::rpc::FrameDecoder decoder(1 << 20);
    decoder.Feed(*frame);
    auto next = decoder.Next();
    if (!next.ok() || !next->has_value()) __builtin_trap();  // a frame we built must decode
    auto [binary, back] = warren::web::RpcFrameToWsMessage(**next);
    if (binary == ws.got_text() || back != msg) __builtin_trap();  // the round trip is exact
  }
  return 0;
}

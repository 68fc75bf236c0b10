// The web server's request path: arbitrary bytes (cut into fuzzer-chosen
// chunks) → Beast's request parser with the server's limits → the router
// (auth, Host allow-list, login, assets, WebSocket policy) → the serialized
// response. Must never crash, hang or throw past the parser.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string_view>

#include "web/auth.h"
#include "web/router.h"

namespace {

using namespace warren::web;

const RouterConfig& Config() {
  static const std::unique_ptr<WebAuth> auth = WebAuth::ForTest(std::string(64, 'a'));
  static const RouterConfig config{AllowedHosts("127.0.0.1", 7780), 2048, auth.get()};
  return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first byte picks the chunk size, as a slow client's reads would.
  size_t chunk = in.empty() ? 1 : 1 + static_cast<uint8_t>(in[0]) % 64;
  if (!in.empty()) in.remove_prefix(1);
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(4 * 1024);
  boost::beast::error_code ec;
  std::string pending;
  while (!in.empty() && !parser.is_done()) {
    pending.append(in.substr(0, chunk));
    in.remove_prefix(std::min(chunk, in.size()));
    size_t used = parser.put(boost::asio::buffer(pending), ec);
    if (ec == http::error::need_more) {
      ec = {};
      pending.erase(0, used);
      continue;
    }
    if (ec) return 0;
    pending.erase(0, used);
  }
  if (!parser.is_header_done()) return 0;
  Routed routed = Route(parser.get(), Config());
  if (!routed.upgrade) {
    std::ostringstream out;
    out << routed.response;
  }
  return 0;
}

#pragma once

#include <boost/beast/http.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "web/auth.h"

namespace warren::web {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

inline constexpr std::string_view kSessionCookie = "warren_session";

struct RouterConfig {
  // Accepted Host header values (exact, lowercase): see AllowedHosts.
  std::vector<std::string> allowed_hosts;
  size_t max_target_bytes = 2048;
  const WebAuth* auth = nullptr;
  // The /metrics body (metrics_route.h); unset: /metrics is 404.
  std::function<std::string()> metrics = {};
  // The lists a page starts from, as JSON ({vms, images, ops, sessions}, what
  // events.subscribe's snapshot carries), embedded in the page so its first
  // paint needs no round trip. Unset, or "" (the lists failed): the page as
  // stored, with its ETag.
  std::function<std::string()> page_data = {};
};

// What the connection does with a parsed request.
struct Routed {
  HttpResponse response;  // sent when !upgrade
  bool upgrade = false;   // an authenticated, same-origin WebSocket upgrade of /ws
};

// The whole HTTP policy as a pure function of the request (no I/O, no state
// besides the auth token; the fuzzer drives it). In order:
//   414 target too long · 421 Host not allowed (DNS rebinding) · 405 not GET ·
//   `?token=` on a page: 303 to the same path without the query, plus the
//   session cookie when the token is right (401 when wrong) ·
//   /ws: 401 without the cookie, 403 unless Origin is http://<Host>, 400 unless an
//   upgrade · / and /vm/<name>: index.html with page_data in a JSON <script>
//   (no-store; 401 login page without the cookie) ·
//   /metrics: metrics_route.h (bearer token or cookie) ·
//   /assets/<path>: embedded files (without the cookie only kPublicAssets), gzip
//   when accepted, ETag and 304 · else 404.
// Every response carries SecurityHeaders and no CORS headers.
Routed Route(const HttpRequest& request, const RouterConfig& config);

// `html` with `json` in a <script type="application/json" id="warren-data">
// before </head>; every '<' of the JSON is written \u003c, so no value can end
// the element. (JSON in a data block is not run: CSP's default-src 'self' allows it.)
std::string WithPageData(std::string_view html, std::string_view json);

// A plain-text response with the security headers (also for parse errors).
HttpResponse TextResponse(http::status status, std::string_view text, unsigned version = 11);

// "<host>:<port>" for the listen host and for localhost, 127.0.0.1 and [::1].
std::vector<std::string> AllowedHosts(std::string_view listen_host, uint16_t port);

// The value of `name` in a Cookie header ("" when absent).
std::string CookieNamed(std::string_view header, std::string_view name);
// Whether an Accept-Encoding header accepts gzip (a q=0 refuses it).
bool AcceptsGzip(std::string_view header);

}  // namespace warren::web

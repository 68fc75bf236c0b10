#include "web/router.h"

#include <boost/beast/websocket/rfc6455.hpp>

#include "web/assets.h"
#include "web/metrics_route.h"

namespace warren::web {
namespace {

// Files the login page itself needs.
constexpr std::string_view kPublicAssets[] = {"style.css"};

constexpr std::string_view kLoginPage =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>warren: log in</title><link rel=\"stylesheet\" href=\"/assets/style.css\">"
    "</head><body><h1>warren</h1><p>Not logged in. Open the URL that "
    "<code>warren web</code> prints on the daemon's host.</p></body></html>\n";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The value of `key` in a query string ("" and false when absent).
bool QueryParam(std::string_view query, std::string_view key, std::string* value) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      *value = eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
      return true;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

void SecurityHeaders(HttpResponse& r) {
  r.set("Content-Security-Policy", "default-src 'self'");
  r.set("X-Content-Type-Options", "nosniff");
  r.set("Referrer-Policy", "no-referrer");
  r.set("X-Frame-Options", "DENY");
}

HttpResponse Make(http::status status, unsigned version, std::string_view type,
                  std::string body) {
  HttpResponse r{status, version};
  SecurityHeaders(r);
  r.set(http::field::content_type, type);
  r.set(http::field::cache_control, "no-cache");
  r.body() = std::move(body);
  r.prepare_payload();
  return r;
}

bool IsPage(std::string_view path) {
  if (path == "/") return true;
  constexpr std::string_view kVm = "/vm/";
  return path.starts_with(kVm) && path.size() > kVm.size() &&
         path.find('/', kVm.size()) == std::string_view::npos;
}

bool Authenticated(const HttpRequest& req, const RouterConfig& config) {
  auto it = req.find(http::field::cookie);
  if (it == req.end()) return false;
  std::string value = CookieNamed(it->value(), kSessionCookie);
  return !value.empty() && config.auth->CheckCookie(value);
}

HttpResponse Login(const HttpRequest& req, std::string_view path, const std::string& token,
                   const RouterConfig& config) {
  if (!config.auth->CheckToken(token)) {
    return Make(http::status::unauthorized, req.version(), "text/html; charset=utf-8",
                std::string(kLoginPage));
  }
  HttpResponse r = Make(http::status::see_other, req.version(), "text/plain; charset=utf-8", "");
  r.set(http::field::location, path);
  r.set(http::field::cache_control, "no-store");
  // Persistent (30 days), not a session cookie: a browser drops session
  // cookies when its last tab closes, and "close the tab, reopen it" must find
  // the terminal again. It stays valid until `warren web --rotate`.
  r.set(http::field::set_cookie, std::string(kSessionCookie) + "=" + config.auth->CookieValue() +
                                     "; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000");
  return r;
}

HttpResponse ServeAsset(const HttpRequest& req, const Asset& asset) {
  auto inm = req.find(http::field::if_none_match);
  if (inm != req.end() && (inm->value().find(asset.etag) != std::string_view::npos ||
                           Trim(inm->value()) == "*")) {
    HttpResponse r = Make(http::status::not_modified, req.version(), asset.content_type, "");
    r.set(http::field::etag, asset.etag);
    r.set(http::field::vary, "Accept-Encoding");
    return r;
  }
  auto ae = req.find(http::field::accept_encoding);
  const bool gzip = ae != req.end() && AcceptsGzip(ae->value());
  HttpResponse r = Make(http::status::ok, req.version(), asset.content_type,
                        std::string(gzip ? asset.gzip : asset.data));
  if (gzip) r.set(http::field::content_encoding, "gzip");
  r.set(http::field::etag, asset.etag);
  r.set(http::field::vary, "Accept-Encoding");
  return r;
}

Routed WebSocket(const HttpRequest& req, const RouterConfig& config, bool authed) {
  if (!authed) return {TextResponse(http::status::unauthorized, "log in first", req.version())};
  auto origin = req.find(http::field::origin);
  const std::string expected = "http://" + Lower(req[http::field::host]);
  if (origin == req.end() || Lower(origin->value()) != expected) {
    return {TextResponse(http::status::forbidden, "cross-origin WebSocket refused",
                         req.version())};
  }
  if (!boost::beast::websocket::is_upgrade(req)) {
    return {TextResponse(http::status::bad_request, "expected a WebSocket upgrade",
                         req.version())};
  }
  return {HttpResponse{}, true};
}

}  // namespace

HttpResponse TextResponse(http::status status, std::string_view text, unsigned version) {
  return Make(status, version, "text/plain; charset=utf-8", std::string(text) + "\n");
}

Routed Route(const HttpRequest& req, const RouterConfig& config) {
  const unsigned v = req.version();
  const std::string_view target = req.target();
  if (target.size() > config.max_target_bytes) {
    return {TextResponse(http::status::uri_too_long, "request target too long", v)};
  }
  const std::string host = Lower(req[http::field::host]);
  bool host_ok = false;
  for (const std::string& h : config.allowed_hosts) host_ok = host_ok || h == host;
  if (!host_ok) {
    return {TextResponse(http::status::misdirected_request,
                         "unknown Host; use the address `warren web` prints", v)};
  }
  if (req.method() != http::verb::get) {
    HttpResponse r = TextResponse(http::status::method_not_allowed, "only GET is served", v);
    r.set(http::field::allow, "GET");
    return {std::move(r)};
  }
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  std::string token;
  if (IsPage(path) && QueryParam(query, "token", &token)) {
    return {Login(req, path, token, config)};
  }
  const bool authed = Authenticated(req, config);
  if (path == "/ws") return WebSocket(req, config, authed);
  if (path == "/metrics") return {MetricsResponse(req, config, authed)};
  if (IsPage(path)) {
    const Asset* index = FindAsset("index.html");
    if (!authed || index == nullptr) {
      return {Make(http::status::unauthorized, v, "text/html; charset=utf-8",
                   std::string(kLoginPage))};
    }
    std::string data = config.page_data ? config.page_data() : "";
    if (data.empty()) return {ServeAsset(req, *index)};
    // Today's lists: never cached, and no ETag (the bytes change with the VMs).
    HttpResponse r = Make(http::status::ok, v, index->content_type,
                          WithPageData(index->data, data));
    r.set(http::field::cache_control, "no-store");
    return {std::move(r)};
  }
  constexpr std::string_view kAssets = "/assets/";
  if (path.starts_with(kAssets)) {
    const std::string_view file = path.substr(kAssets.size());
    bool is_public = false;
    for (std::string_view p : kPublicAssets) is_public = is_public || p == file;
    if (!authed && !is_public) {
      return {TextResponse(http::status::unauthorized, "log in first", v)};
    }
    if (const Asset* asset = FindAsset(file)) return {ServeAsset(req, *asset)};
  }
  return {TextResponse(http::status::not_found, "not found", v)};
}

std::string WithPageData(std::string_view html, std::string_view json) {
  constexpr std::string_view kOpen = "<script type=\"application/json\" id=\"warren-data\">";
  constexpr std::string_view kClose = "</script>\n";
  size_t at = html.find("</head>");
  if (at == std::string_view::npos) at = 0;
  std::string out;
  out.reserve(html.size() + json.size() + json.size() / 16 + kOpen.size() + kClose.size());
  out.append(html.substr(0, at)).append(kOpen);
  for (char c : json) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  out.append(kClose).append(html.substr(at));
  return out;
}

std::vector<std::string> AllowedHosts(std::string_view listen_host, uint16_t port) {
  const std::string p = ":" + std::to_string(port);
  std::vector<std::string> out = {"localhost" + p, "127.0.0.1" + p, "[::1]" + p};
  const std::string listen = Lower(listen_host) + p;
  bool have = false;
  for (const std::string& h : out) have = have || h == listen;
  if (!have) out.push_back(listen);
  return out;
}

std::string CookieNamed(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = Trim(header.substr(0, semi));
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && Trim(pair.substr(0, eq)) == name) {
      return std::string(Trim(pair.substr(eq + 1)));
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return "";
}

bool AcceptsGzip(std::string_view header) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = Trim(header.substr(0, comma));
    size_t semi = item.find(';');
    const std::string coding = Lower(Trim(item.substr(0, semi)));
    if (coding == "gzip" || coding == "*") {
      std::string_view params = semi == std::string_view::npos ? "" : item.substr(semi + 1);
      size_t qpos = params.find("q=");
      if (qpos == std::string_view::npos) return true;
      std::string_view qv = Trim(params.substr(qpos + 2));
      // q=0, q=0.0, q=0.000 refuse; anything else accepts.
      bool zero = !qv.empty() && qv.front() == '0';
      for (char c : qv.substr(std::min<size_t>(1, qv.size()))) zero = zero && (c == '.' || c == '0');
      return !zero;
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace warren::web

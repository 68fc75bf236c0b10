#include "web/metrics_route.h"

namespace warren::web {
namespace {

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

bool BearerOk(const HttpRequest& req, const WebAuth& auth) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return false;
  std::string_view value = it->value();
  // The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = value[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != kScheme[i]) return false;
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return auth.CheckToken(value);
}

}  // namespace

HttpResponse MetricsResponse(const HttpRequest& req, const RouterConfig& config, bool cookie_ok) {
  if (!config.metrics) return TextResponse(http::status::not_found, "not found", req.version());
  if (!cookie_ok && !BearerOk(req, *config.auth)) {
    HttpResponse r = TextResponse(http::status::unauthorized,
                                  "send Authorization: Bearer <the token in the daemon's "
                                  "web-token file>",
                                  req.version());
    r.set(http::field::www_authenticate, "Bearer realm=\"warren\"");
    return r;
  }
  HttpResponse r = TextResponse(http::status::ok, "", req.version());
  r.set(http::field::content_type, kMetricsContentType);
  r.set(http::field::cache_control, "no-store");
  r.body() = config.metrics();
  r.prepare_payload();
  return r;
}

}  // namespace warren::web

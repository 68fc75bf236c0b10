#pragma once

#include "web/router.h"

namespace warren::web {

// GET /metrics: the daemon's Prometheus metrics (text format 0.0.4).
//
// A scraper cannot do the browser's cookie login, so /metrics also takes
// `Authorization: Bearer <web token>` — the same secret as the login URL, in
// the daemon's state directory (0600), which Prometheus reads with
// `authorization: {credentials_file: ...}`. Nothing is served without it, even
// on loopback: any local user reaches loopback, and VM names are not theirs to
// read (the RPC socket is 0660 for the same reason). A logged-in browser's
// cookie works too. Without either: 401 with `WWW-Authenticate: Bearer`.
// 404 when the server has no metrics provider (config.metrics unset).
//
// The provider runs on the connection's thread only after authentication; it
// copies counters out of the subsystems and takes no per-VM lock.
HttpResponse MetricsResponse(const HttpRequest& request, const RouterConfig& config, bool cookie_ok);

}  // namespace warren::web

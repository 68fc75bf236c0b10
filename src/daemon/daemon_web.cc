// The web UI's place in the daemon: the token file, the listener, web.info,
// web.rotate and the daemon.health row.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "dns/listen.h"
#include "web/auth.h"
#include "web/server.h"

namespace warren {

void Daemon::OpenWeb() {
  const WebConfig& wc = config_.web;
  if (!wc.enabled) return;
  auto fail = [this](const Status& s) {
    web_error_ = s.message();
    spdlog::error("web: not serving the web UI: {}", web_error_);
  };
  // In the state directory (0700): only the daemon's user reads the token.
  Result<std::unique_ptr<web::WebAuth>> auth = web::WebAuth::Open(layout_.state_dir / "web-token");
  if (!auth.ok()) return fail(auth.error());
  web_auth_ = std::move(*auth);
  Result<std::pair<std::string, uint16_t>> hp = ParseIpv4HostPort(wc.listen);
  if (!hp.ok()) return fail(hp.error());
  web::WebServerOptions opts;
  opts.host = hp->first;
  opts.port = hp->second;
  opts.limits.max_message_bytes = static_cast<uint32_t>(config_.rpc.max_frame_bytes);
  opts.limits.rpc = {static_cast<uint32_t>(config_.rpc.max_frame_bytes),
                     static_cast<int>(config_.rpc.max_requests_per_connection),
                     std::chrono::seconds(config_.rpc.idle_timeout_s),
                     std::chrono::milliseconds(10000)};
  // What the unix server would report for the daemon's owner: the browser
  // proved it holds the token that only this user can read.
  opts.limits.peer = {::getuid(), ::getgid(), -1};
  // Called only while the listener runs, which Close stops before the subsystems go.
  opts.metrics = [this] { return MetricsText(); };
  Result<std::unique_ptr<web::WebServer>> server =
      web::WebServer::Listen(std::move(opts), dispatcher_.get(), web_auth_.get());
  if (!server.ok()) return fail(server.error());
  web_server_ = std::move(*server);
}

nlohmann::json Daemon::WebInfo() const {
  nlohmann::json out = {{"enabled", config_.web.enabled}, {"url", ""}, {"listen", ""}};
  if (web_server_) {
    out["url"] = web_server_->Url();
    out["listen"] = web_server_->address();
  }
  if (!web_error_.empty()) out["error"] = web_error_;
  return out;
}

Result<nlohmann::json> Daemon::WebRotate() {
  if (!web_auth_ || !web_server_) {
    return FailedPrecondition(
        web_error_.empty() ? "the web UI is off; set web.enabled = true and restart the daemon"
                           : "the web UI is not serving: " + web_error_);
  }
  RETURN_IF_ERROR(web_auth_->Rotate());
  web_server_->EndLogins();
  spdlog::info("web: login token rotated; every web login ended");
  return nlohmann::json{{"url", web_server_->Url()}, {"listen", web_server_->address()}};
}

nlohmann::json Daemon::WebCheck() const {
  nlohmann::json row = {{"name", "web"}};
  if (!config_.web.enabled) {
    row.update({{"level", "PASS"}, {"found", "disabled (web.enabled = false)"}, {"fix", ""}});
  } else if (!web_server_) {
    row.update({{"level", "WARN"},
                {"found", "not serving: " + web_error_},
                {"fix", "set web.listen to a free IPv4:port (port 0: any) and restart the daemon"}});
  } else if (!web_server_->address().starts_with("127.")) {
    row.update({{"level", "WARN"},
                {"found", "listening on " + web_server_->address() +
                              " beyond this host: plain HTTP, the token and shells travel "
                              "unencrypted"},
                {"fix", "listen on 127.0.0.1 and reach it through an SSH tunnel, or accept "
                        "the risk on a trusted network"}});
  } else {
    row.update({{"level", "PASS"}, {"found", "http://" + web_server_->address() + "/"}, {"fix", ""}});
  }
  return row;
}

}  // namespace warren

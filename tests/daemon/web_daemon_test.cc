// The daemon's web listener (daemon_web.cc) on fakes: web.info / web.rotate
// over the unix socket, the browser path to the daemon's own dispatcher, the
// daemon.health row, and a taken port that does not stop the daemon.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon/daemon.h"
#include "fakes/fake_daemon_deps.h"
#include "rpc/client.h"
#include "web/web_test_util.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;
using web::testing::HttpClient;
using web::testing::WsClient;

class WebDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-web-daemon-XXXXXX";
    layout_ = Layout::ForRoot(mkdtemp(tmpl));
    ASSERT_TRUE(layout_.Ensure().ok());
  }
  void TearDown() override { fs::remove_all(layout_.root); }

  void Start(const std::string& listen) {
    std::ofstream(layout_.config_file) << "[dns]\nhost_listen = \"127.0.0.1:0\"\n[web]\nlisten = \""
                                       << listen << "\"\n";
    FakeDaemonDeps fakes;
    Result<std::unique_ptr<Daemon>> d = Daemon::Open(layout_, std::move(fakes.deps));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(*d);
    serve_ = std::thread([this] { (void)daemon_->Serve(); });
    Result<std::unique_ptr<rpc::Client>> c = rpc::Client::Connect(layout_.socket);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(*c);
  }
  void Stop() {
    client_.reset();
    if (daemon_) {
      EXPECT_TRUE(daemon_->Close().ok());
    }
    if (serve_.joinable()) serve_.join();
    daemon_.reset();
  }
  ~WebDaemonTest() override { Stop(); }

  Result<json> Call(std::string_view method) { return client_->Call(method, json::object()); }

  static uint16_t PortOf(const std::string& listen) {
    return static_cast<uint16_t>(std::stoi(listen.substr(listen.rfind(':') + 1)));
  }
  static json WebRow(const json& health) {
    for (const json& row : health["checks"]) {
      if (row["name"] == "web") return row;
    }
    return json();
  }

  Layout layout_;
  std::unique_ptr<Daemon> daemon_;
  std::thread serve_;
  std::unique_ptr<rpc::Client> client_;
};

TEST_F(WebDaemonTest, BrowserReachesTheDaemonsDispatcherAndRotateLogsOut) {
  Start("127.0.0.1:0");
  Result<json> info = Call("web.info");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const std::string listen = (*info)["listen"];
  const std::string url = (*info)["url"];
  const uint16_t port = PortOf(listen);
  ASSERT_NE(port, 0);
  EXPECT_EQ(url.rfind("http://" + listen + "/?token=", 0), 0u) << url;
  const std::string token = url.substr(url.find("token=") + 6);
  EXPECT_EQ(token.size(), 64u);
  EXPECT_EQ(fs::status(layout_.state_dir / "web-token").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  // The token logs in; the cookie opens a WebSocket onto the daemon's own methods.
  HttpClient http(port);
  std::optional<web::HttpResponse> r = http.Send(web::testing::Get("/?token=" + token, port));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->result(), web::http::status::see_other);
  const std::string cookie =
      web::CookieNamed(std::string((*r)[web::http::field::set_cookie]), web::kSessionCookie);
  WsClient ws(port, cookie);
  ASSERT_EQ(ws.status(), 101);
  ASSERT_TRUE(ws.WriteJson({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "daemon.status"}}));
  std::optional<json> status = ws.ReadResponse(1);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["result"]["pid"], getpid());
  EXPECT_EQ((*status)["result"]["web"]["listen"], listen);
  EXPECT_FALSE((*status)["result"]["web"].contains("url"));  // status never shows the token

  Result<json> health = Call("daemon.health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(WebRow(*health)["level"], "PASS") << health->dump();

  Result<json> rotated = Call("web.rotate");
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_NE((*rotated)["url"], url);
  EXPECT_FALSE(ws.Read());  // the open WebSocket was closed
  HttpClient again(port);
  r = again.Send(web::testing::Get("/", port, cookie));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), web::http::status::unauthorized);
  // A restarted daemon keeps the rotated token.
  const std::string new_url = (*rotated)["url"];
  Stop();
  Start("127.0.0.1:0");
  info = Call("web.info");
  ASSERT_TRUE(info.ok());
  const std::string restarted_url = (*info)["url"];
  EXPECT_EQ(restarted_url.substr(restarted_url.find("token=")),
            new_url.substr(new_url.find("token=")));
}

TEST_F(WebDaemonTest, TakenPortIsReportedAndTheDaemonStillServes) {
  int busy = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(busy, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(busy, 1), 0);
  ASSERT_EQ(::getsockname(busy, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  Start(taken);
  Result<json> info = Call("web.info");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ((*info)["url"], "");
  EXPECT_THAT((*info).value("error", ""), HasSubstr(taken));
  EXPECT_THAT((*info).value("error", ""), HasSubstr("web.listen"));
  Result<json> health = Call("daemon.health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(WebRow(*health)["level"], "WARN") << health->dump();
  EXPECT_FALSE(Call("web.rotate").ok());
  EXPECT_TRUE(Call("daemon.ping").ok());
  ::close(busy);
}

}  // namespace
}  // namespace warren

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "web/assets.h"
#include "web/web_test_util.h"

namespace warren::web::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string Inflate(const std::string& gz) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&z, Z_FINISH);
  inflateEnd(&z);
  out.resize(rc == Z_STREAM_END ? z.total_out : 0);
  return out;
}

void ExpectSecurityHeaders(const HttpResponse& r) {
  EXPECT_EQ(r["Content-Security-Policy"], "default-src 'self'");
  EXPECT_EQ(r["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(r["Referrer-Policy"], "no-referrer");
  EXPECT_EQ(r["X-Frame-Options"], "DENY");
  for (const auto& field : r) {
    EXPECT_FALSE(std::string(field.name_string()).starts_with("Access-Control"))
        << field.name_string();
  }
}

TEST(WebServerTest, TokenLoginSetsCookieAndRedirectsWithoutIt) {
  RunningServer s;
  HttpClient c(s.port());
  std::optional<HttpResponse> r = c.Send(Get(std::string("/?token=") + kToken, s.port()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::see_other);
  EXPECT_EQ((*r)[http::field::location], "/");
  const std::string set_cookie((*r)[http::field::set_cookie]);
  EXPECT_THAT(set_cookie, HasSubstr("warren_session=" + s.auth().CookieValue()));
  EXPECT_THAT(set_cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(set_cookie, HasSubstr("SameSite=Strict"));
  // Outlives the browser's last tab (a session cookie would not).
  EXPECT_THAT(set_cookie, HasSubstr("Max-Age="));
  EXPECT_THAT(set_cookie, ::testing::Not(HasSubstr(kToken)));
  ExpectSecurityHeaders(*r);

  // Same connection (kept alive): the page with the cookie, the login page without.
  r = c.Send(Get("/", s.port(), s.auth().CookieValue()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::ok);
  EXPECT_THAT(r->body(), HasSubstr("id=\"warren-data\""));
  ExpectSecurityHeaders(*r);
  r = c.Send(Get("/vm/web1", s.port(), s.auth().CookieValue()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::ok);
  r = c.Send(Get("/", s.port()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::unauthorized);
  EXPECT_THAT(r->body(), HasSubstr("warren web"));
  ExpectSecurityHeaders(*r);
}

// The JSON between the page's data <script> tags.
std::string ServedData(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"warren-data\">";
  const size_t from = page.find(open);
  if (from == std::string::npos) return "";
  const size_t to = page.find("</script>", from);
  return page.substr(from + open.size(), to - from - open.size());
}

TEST(WebServerTest, ThePageComesWithTheListsEscapedAndUncached) {
  RunningServer s;
  HttpClient c(s.port());
  std::optional<HttpResponse> r = c.Send(Get("/", s.port(), s.auth().CookieValue()));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->result(), http::status::ok);
  const std::string& page = r->body();
  // The stored page around it, the data before </head>.
  const std::string stored(FindAsset("index.html")->data);
  EXPECT_TRUE(page.starts_with(stored.substr(0, stored.find("</head>"))));
  EXPECT_LT(page.find("warren-data"), page.find("</head>"));
  // The lists as the four methods answer them; no '<' of a value survives raw,
  // so nothing in them can end the element or open another.
  const std::string data = ServedData(page);
  EXPECT_EQ(data.find('<'), std::string::npos) << data;
  EXPECT_EQ(json::parse(data), (json{{"vms", {{{"name", kServedVmName}}}},
                                     {"images", json::array()},
                                     {"ops", json::array()},
                                     {"sessions", json::array()}}));
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  // Today's lists: not cached, and no ETag to revalidate against.
  EXPECT_EQ((*r)[http::field::cache_control], "no-store");
  EXPECT_EQ(r->find(http::field::etag), r->end());
  ExpectSecurityHeaders(*r);
  // Not without a login.
  r = c.Send(Get("/", s.port()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::unauthorized);
  EXPECT_THAT(r->body(), ::testing::Not(HasSubstr("warren-data")));
}

TEST(WebServerTest, APageWhoseListsFailedIsTheStoredOneWithItsEtag) {
  std::unique_ptr<WebAuth> auth = WebAuth::ForTest(kToken);
  RouterConfig config{AllowedHosts("127.0.0.1", 80), 2048, auth.get(), {},
                      [] { return std::string(); }};
  Routed routed = Route(Get("/", 80, auth->CookieValue()), config);
  EXPECT_EQ(routed.response.result(), http::status::ok);
  EXPECT_EQ(routed.response.body(), FindAsset("index.html")->data);
  EXPECT_EQ(routed.response[http::field::etag], FindAsset("index.html")->etag);
}

TEST(WebServerTest, WrongTokenOrCookieIsRefused) {
  RunningServer s;
  HttpClient c(s.port());
  std::string wrong(kToken);
  wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
  for (const std::string& token : {wrong, std::string("short"), std::string()}) {
    std::optional<HttpResponse> r = c.Send(Get("/?token=" + token, s.port()));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result(), http::status::unauthorized) << token;
    EXPECT_EQ(r->find(http::field::set_cookie), r->end());
  }
  // The token itself is not a cookie.
  std::optional<HttpResponse> r = c.Send(Get("/", s.port(), kToken));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::unauthorized);
  r = c.Send(Get("/assets/vendor/xterm.js", s.port()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::unauthorized);
  EXPECT_EQ(WsClient(s.port(), "").status(), 401);
  EXPECT_EQ(WsClient(s.port(), std::string(64, 'f')).status(), 401);
}

TEST(WebServerTest, RotateInvalidatesCookiesAndClosesWebSockets) {
  RunningServer s;
  const std::string cookie = CookieFromLogin(s.port());
  ASSERT_FALSE(cookie.empty());
  WsClient ws(s.port(), cookie);
  ASSERT_EQ(ws.status(), 101);
  ASSERT_TRUE(ws.WriteJson({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "daemon.ping"}}));
  ASSERT_TRUE(ws.ReadResponse(1));

  ASSERT_TRUE(s.auth().Rotate().ok());
  s.server().EndLogins();
  EXPECT_FALSE(ws.Read());  // closed by the server
  HttpClient c(s.port());
  std::optional<HttpResponse> r = c.Send(Get("/", s.port(), cookie));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::unauthorized);
  EXPECT_EQ(WsClient(s.port(), cookie).status(), 401);
  EXPECT_EQ(c.Send(Get(std::string("/?token=") + kToken, s.port()))->result(),
            http::status::unauthorized);
  EXPECT_EQ(WsClient(s.port(), s.auth().CookieValue()).status(), 101);
}

TEST(WebServerTest, UnknownHostIsRefused) {
  RunningServer s;
  const std::string cookie = CookieFromLogin(s.port());
  const std::string port = std::to_string(s.port());
  for (const std::string& host : {"evil.example:" + port, std::string("127.0.0.1:1"), std::string("localhost"),
                                  std::string("")}) {
    HttpClient c(s.port());
    HttpRequest req = Get("/", s.port(), cookie);
    req.set(http::field::host, host);
    std::optional<HttpResponse> r = c.Send(req);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result(), http::status::misdirected_request) << host;
  }
  for (const std::string& host : {"localhost:" + port, "[::1]:" + port, "LOCALHOST:" + port}) {
    HttpClient c(s.port());
    HttpRequest req = Get("/", s.port(), cookie);
    req.set(http::field::host, host);
    EXPECT_EQ(c.Send(req)->result(), http::status::ok) << host;
  }
}

TEST(WebServerTest, CrossOriginWebSocketIsRefused) {
  RunningServer s;
  const std::string cookie = CookieFromLogin(s.port());
  EXPECT_EQ(WsClient(s.port(), cookie, "http://evil.example").status(), 403);
  EXPECT_EQ(WsClient(s.port(), cookie, "https://127.0.0.1:" + std::to_string(s.port())).status(),
            403);
  EXPECT_EQ(WsClient(s.port(), cookie, "null").status(), 403);
  EXPECT_EQ(WsClient(s.port(), cookie, "-").status(), 403);  // no Origin at all
  EXPECT_EQ(WsClient(s.port(), cookie).status(), 101);
}

TEST(WebServerTest, OnlyGetIsServed) {
  RunningServer s;
  HttpClient c(s.port());
  HttpRequest req = Get("/", s.port(), CookieFromLogin(s.port()));
  req.method(http::verb::post);
  req.body() = "x";
  std::optional<HttpResponse> r = c.Send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::method_not_allowed);
  EXPECT_EQ((*r)[http::field::allow], "GET");
}

TEST(WebServerTest, OversizedRequestsAreRefused) {
  RunningServer s;
  {
    HttpClient c(s.port());
    HttpRequest req = Get("/", s.port());
    req.set("X-Big", std::string(16 * 1024, 'a'));
    std::optional<HttpResponse> r = c.Send(req);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result(), http::status::request_header_fields_too_large);
  }
  {
    HttpClient c(s.port());
    std::optional<HttpResponse> r = c.Send(Get("/" + std::string(3000, 'a'), s.port()));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result(), http::status::uri_too_long);
  }
  {
    HttpClient c(s.port());
    HttpRequest req = Get("/", s.port());
    req.method(http::verb::post);
    req.body() = std::string(64 * 1024, 'b');
    std::optional<HttpResponse> r = c.Send(req);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result(), http::status::payload_too_large);
  }
}

TEST(WebServerTest, SlowlorisIsCutOff) {
  WebServerOptions o;
  o.limits.header_timeout = std::chrono::milliseconds(300);
  RunningServer s(o);
  HttpClient c(s.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.WriteRaw("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  // One header byte every 50 ms would take 50 s for the whole head; the server
  // hangs up long before (within its 300 ms head timeout), without answering.
  bool cut = false;
  for (int i = 0; i < 1000 && !cut; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cut = !c.WriteRaw("X");
  }
  EXPECT_TRUE(cut) << "the server kept a trickling client for 50 s";
}

TEST(WebServerTest, ConnectionsBeyondTheLimitGet503) {
  WebServerOptions o;
  o.max_connections = 2;
  RunningServer s(o);
  HttpClient a(s.port()), b(s.port());
  ASSERT_TRUE(a.connected() && b.connected());
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (s.server().ConnectionCountForTest() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(s.server().ConnectionCountForTest(), 2);
  HttpClient third(s.port());
  std::string got;
  ASSERT_TRUE(third.ReadUntilClosed(&got));
  EXPECT_THAT(got, HasSubstr("503 Service Unavailable"));
  // The two within the limit are still served.
  std::optional<HttpResponse> r = a.Send(Get("/", s.port()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::unauthorized);
}

// The accept loop is the RPC server's: after a burst of clients has gone, the
// heap is trimmed (sys::AcceptLoop), for browsers as for CLI connections.
TEST(WebServerTest, BurstOfClientsEndsInAHeapTrim) {
  RunningServer s;
  ASSERT_EQ(s.server().TrimsForTest(), 0);
  for (int i = 0; i < sys::AcceptLoop::kTrimAfterEnded + 6; ++i) {
    HttpClient c(s.port());
    ASSERT_TRUE(c.connected());
    std::optional<HttpResponse> r = c.Send(Get("/", s.port()));
    ASSERT_TRUE(r);
  }  // each client closes; its connection thread ends
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while ((s.server().TrimsForTest() == 0 || s.server().ConnectionCountForTest() > 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(s.server().TrimsForTest(), 1);
  EXPECT_EQ(s.server().ConnectionCountForTest(), 0);
}

TEST(WebServerTest, AssetsHaveEtagGzipAnd304) {
  RunningServer s;
  const std::string cookie = CookieFromLogin(s.port());
  const Asset* xterm = FindAsset("vendor/xterm.js");
  ASSERT_NE(xterm, nullptr);
  HttpClient c(s.port());
  HttpRequest req = Get("/assets/vendor/xterm.js", s.port(), cookie);
  req.set(http::field::accept_encoding, "gzip, deflate, br");
  std::optional<HttpResponse> r = c.Send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::ok);
  EXPECT_EQ((*r)[http::field::content_encoding], "gzip");
  EXPECT_EQ((*r)[http::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ((*r)[http::field::cache_control], "no-cache");
  EXPECT_LT(r->body().size(), xterm->data.size());
  EXPECT_EQ(Inflate(r->body()), xterm->data);
  const std::string etag((*r)[http::field::etag]);
  EXPECT_EQ(etag, xterm->etag);
  ExpectSecurityHeaders(*r);

  req.set(http::field::if_none_match, etag);
  r = c.Send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::not_modified);
  EXPECT_TRUE(r->body().empty());

  HttpRequest plain = Get("/assets/vendor/xterm.js", s.port(), cookie);
  plain.set(http::field::accept_encoding, "gzip;q=0");
  r = c.Send(plain);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->find(http::field::content_encoding), r->end());
  EXPECT_EQ(r->body(), xterm->data);

  // The login page's stylesheet is public; nothing else is.
  r = c.Send(Get("/assets/style.css", s.port()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::ok);
  EXPECT_EQ((*r)[http::field::content_type], "text/css; charset=utf-8");
  r = c.Send(Get("/assets/nope.js", s.port(), cookie));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result(), http::status::not_found);
}

TEST(WebServerTest, WebSocketCarriesCallsNotificationsAndCancel) {
  RunningServer s;
  WsClient ws(s.port(), CookieFromLogin(s.port()));
  ASSERT_EQ(ws.status(), 101);
  ASSERT_TRUE(ws.WriteJson({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "notify_n"},
                            {"params", {{"n", 3}}}}));
  std::vector<json> notes;
  std::optional<json> r = ws.ReadResponse(1, &notes);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["result"]["sent"], 3);
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_EQ(notes[2]["method"], "progress");
  EXPECT_EQ(notes[2]["params"]["i"], 2);

  ASSERT_TRUE(ws.WriteJson({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "sleep"}}));
  ASSERT_TRUE(ws.WriteJson({{"jsonrpc", "2.0"}, {"method", "$/cancel"}, {"params", {{"id", 2}}}}));
  r = ws.ReadResponse(2);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->contains("error")) << r->dump();

  ASSERT_TRUE(ws.WriteJson({{"jsonrpc", "2.0"}, {"id", 3}, {"method", "no.such"}}));
  r = ws.ReadResponse(3);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["error"]["code"], -32601);
}

std::string StreamMsg(uint32_t stream, uint8_t channel, std::string_view bytes) {
  std::string m = {static_cast<char>(stream >> 24), static_cast<char>(stream >> 16),
                   static_cast<char>(stream >> 8), static_cast<char>(stream),
                   static_cast<char>(channel)};
  return m + std::string(bytes);
}

TEST(WebServerTest, BinaryMessagesAreStreamFrames) {
  RunningServer s;
  WsClient ws(s.port(), CookieFromLogin(s.port()));
  ASSERT_EQ(ws.status(), 101);
  ASSERT_TRUE(ws.WriteJson({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "stream_echo"},
                            {"params", {{"stream", 258}}}}));
  std::optional<json> ready = ws.ReadJson();
  ASSERT_TRUE(ready);
  EXPECT_EQ((*ready)["method"], "ready");
  ASSERT_TRUE(ws.Write(true, StreamMsg(258, 0, std::string("he\0llo", 6))));
  bool binary = false;
  std::optional<std::string> out = ws.Read(&binary);
  ASSERT_TRUE(out);
  EXPECT_TRUE(binary);
  EXPECT_EQ(*out, StreamMsg(258, 1, std::string("he\0llo", 6)));
  ASSERT_TRUE(ws.Write(true, StreamMsg(258, 3, "{\"eof\":true}")));
  std::optional<json> r = ws.ReadResponse(1);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["result"]["bytes"], 6);
}

TEST(WebServerTest, ShortBinaryMessageClosesTheWebSocket) {
  RunningServer s;
  WsClient ws(s.port(), CookieFromLogin(s.port()));
  ASSERT_EQ(ws.status(), 101);
  ASSERT_TRUE(ws.Write(true, "abc"));
  EXPECT_FALSE(ws.Read());
}

TEST(WebServerTest, HundredWebSocketClientsCallWithNotificationsFlowing) {
  RunningServer s;
  const std::string cookie = CookieFromLogin(s.port());
  constexpr int kClients = 100;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&] {
      WsClient ws(s.port(), cookie);
      if (ws.status() != 101) return;
      for (int round = 0; round < 5; ++round) {
        std::vector<json> notes;
        if (!ws.WriteJson({{"jsonrpc", "2.0"}, {"id", 2 * round}, {"method", "notify_n"},
                           {"params", {{"n", 10}}}}))
          return;
        std::optional<json> r = ws.ReadResponse(2 * round, &notes);
        if (!r || notes.size() != 10) return;
        if (!ws.WriteJson({{"jsonrpc", "2.0"}, {"id", 2 * round + 1}, {"method", "daemon.ping"}}))
          return;
        r = ws.ReadResponse(2 * round + 1);
        if (!r || !r->contains("result")) return;
      }
      ok.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients);
}

TEST(WebAuthTest, TokenFileIsPrivateAndKeptAcrossRestarts) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("warren-web-auth-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "web-token";
  std::filesystem::remove(file);
  Result<std::unique_ptr<WebAuth>> a = WebAuth::Open(file);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const std::string token = (*a)->Token();
  EXPECT_EQ(token.size(), 64u);
  struct stat st;
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Result<std::unique_ptr<WebAuth>> again = WebAuth::Open(file);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Token(), token);
  EXPECT_TRUE((*again)->CheckCookie((*a)->CookieValue()));

  ASSERT_TRUE((*again)->Rotate().ok());
  EXPECT_NE((*again)->Token(), token);
  EXPECT_FALSE((*again)->CheckToken(token));
  EXPECT_FALSE((*again)->CheckCookie((*a)->CookieValue()));
  Result<std::unique_ptr<WebAuth>> reread = WebAuth::Open(file);
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ((*reread)->Token(), (*again)->Token());

  // A token others could read is replaced, not trusted.
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  Result<std::unique_ptr<WebAuth>> exposed = WebAuth::Open(file);
  ASSERT_TRUE(exposed.ok());
  EXPECT_NE((*exposed)->Token(), (*again)->Token());
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace warren::web::testing

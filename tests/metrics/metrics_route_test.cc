// GET /metrics through the router (metrics_route.h): who may scrape.
#include <gtest/gtest.h>

#include <atomic>

#include "web/router.h"

namespace warren::web {
namespace {

constexpr char kToken[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

class MetricsRouteTest : public ::testing::Test {
 protected:
  MetricsRouteTest() : auth_(WebAuth::ForTest(kToken)) {
    config_.allowed_hosts = AllowedHosts("127.0.0.1", 7780);
    config_.auth = auth_.get();
    config_.metrics = [this] {
      ++scrapes_;
      return std::string("warren_vms{state=\"running\"} 1\n");
    };
  }
  HttpResponse Get(const std::string& authorization, const std::string& cookie = "") {
    HttpRequest req{http::verb::get, "/metrics", 11};
    req.set(http::field::host, "127.0.0.1:7780");
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    if (!cookie.empty()) req.set(http::field::cookie, cookie);
    return Route(req, config_).response;
  }

  std::unique_ptr<WebAuth> auth_;
  RouterConfig config_;
  int scrapes_ = 0;
};

TEST_F(MetricsRouteTest, BearerTokenScrapes) {
  HttpResponse r = Get(std::string("Bearer ") + kToken);
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(r[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.body(), "warren_vms{state=\"running\"} 1\n");
  EXPECT_EQ(Get(std::string("bearer  ") + kToken).result(), http::status::ok);
  EXPECT_EQ(scrapes_, 2);
}

TEST_F(MetricsRouteTest, NoOrWrongCredentialsAreRefusedBeforeAnythingIsCollected) {
  for (const std::string& authorization :
       {std::string(), std::string("Bearer"), std::string("Bearer wrong"),
        std::string("Basic ") + kToken, std::string("Bearer ") + kToken + "0"}) {
    HttpResponse r = Get(authorization);
    EXPECT_EQ(r.result(), http::status::unauthorized) << authorization;
    EXPECT_EQ(r[http::field::www_authenticate], "Bearer realm=\"warren\"");
    EXPECT_EQ(r.body().find(kToken), std::string::npos);
  }
  EXPECT_EQ(scrapes_, 0);
}

TEST_F(MetricsRouteTest, TheBrowsersLoginCookieAlsoScrapes) {
  const std::string cookie = std::string(kSessionCookie) + "=" + auth_->CookieValue();
  EXPECT_EQ(Get("", cookie).result(), http::status::ok);
  EXPECT_EQ(Get("", std::string(kSessionCookie) + "=forged").result(),
            http::status::unauthorized);
}

TEST_F(MetricsRouteTest, OtherHostsAndMethodsAndNoProviderAreRefused) {
  HttpRequest req{http::verb::get, "/metrics", 11};
  req.set(http::field::host, "evil.example:7780");
  req.set(http::field::authorization, std::string("Bearer ") + kToken);
  EXPECT_EQ(Route(req, config_).response.result(), http::status::misdirected_request);
  req.set(http::field::host, "127.0.0.1:7780");
  req.method(http::verb::post);
  EXPECT_EQ(Route(req, config_).response.result(), http::status::method_not_allowed);
  config_.metrics = nullptr;
  EXPECT_EQ(Get(std::string("Bearer ") + kToken).result(), http::status::not_found);
  EXPECT_EQ(scrapes_, 0);
}

}  // namespace
}  // namespace warren::web

#include "net/publish_spec.h"

#include <gtest/gtest.h>

namespace warren {
namespace {

using Proto = PublishSpec::Proto;

TEST(PublishSpecTest, ParsesEveryForm) {
  struct Case {
    const char* text;
    const char* ip;
    uint16_t host, guest;
    Proto proto;
  } cases[] = {
      {"8080:80", "127.0.0.1", 8080, 80, Proto::kTcp},
      {"8080:80/tcp", "127.0.0.1", 8080, 80, Proto::kTcp},
      {"5353:53/udp", "127.0.0.1", 5353, 53, Proto::kUdp},
      {"0.0.0.0:2222:22", "0.0.0.0", 2222, 22, Proto::kTcp},
      {"192.0.2.7:65535:1/udp", "192.0.2.7", 65535, 1, Proto::kUdp},
      {"[::1]:8080:80", "::1", 8080, 80, Proto::kTcp},
  };
  for (const Case& c : cases) {
    Result<PublishSpec> spec = PublishSpec::Parse(c.text);
    ASSERT_TRUE(spec.ok()) << c.text << ": " << spec.status().ToString();
    EXPECT_EQ(spec->host_ip, c.ip) << c.text;
    EXPECT_EQ(spec->host_port, c.host) << c.text;
    EXPECT_EQ(spec->guest_port, c.guest) << c.text;
    EXPECT_EQ(spec->proto, c.proto) << c.text;
    Result<PublishSpec> back = PublishSpec::Parse(spec->ToString());
    ASSERT_TRUE(back.ok()) << spec->ToString();
    EXPECT_EQ(*back, *spec) << "ToString round-trips " << c.text;
  }
  EXPECT_EQ(PublishSpec::Parse("8080:80")->ToString(), "127.0.0.1:8080:80/tcp");
}

TEST(PublishSpecTest, ErrorsNameTheBadPart) {
  struct Case {
    const char* text;
    const char* names;
  } cases[] = {
      {"8080", "a host port and a guest port are needed"},
      {"8080:", "guest port \"\""},
      {":80", "host port \"\""},
      {"0:80", "host port \"0\""},
      {"8080:70000", "guest port \"70000\""},
      {"web:80", "host port \"web\""},
      {"8080:80/sctp", "protocol \"sctp\""},
      {"localhost:8080:80", "host address \"localhost\""},
      {"1:2:3:4", "too many \":\""},
      {"[::1:8080:80", "bracketed IPv6"},
  };
  for (const Case& c : cases) {
    Result<PublishSpec> spec = PublishSpec::Parse(c.text);
    ASSERT_FALSE(spec.ok()) << c.text;
    EXPECT_EQ(spec.error().code(), Code::kInvalidArgument);
    const std::string& msg = spec.error().message();
    EXPECT_NE(msg.find(c.names), std::string::npos) << c.text << " -> " << msg;
    EXPECT_NE(msg.find("HOST_PORT:GUEST_PORT"), std::string::npos) << "shows the form: " << msg;
  }
}

TEST(PublishSpecTest, ConflictsOnSamePortProtoAndOverlappingAddress) {
  auto p = [](const char* t) { return *PublishSpec::Parse(t); };
  EXPECT_TRUE(p("8080:80").ConflictsWith(p("8080:81")));
  EXPECT_TRUE(p("0.0.0.0:8080:80").ConflictsWith(p("8080:80")));
  EXPECT_TRUE(p("8080:80").ConflictsWith(p("0.0.0.0:8080:80")));
  EXPECT_FALSE(p("8080:80").ConflictsWith(p("8080:80/udp")));
  EXPECT_FALSE(p("8080:80").ConflictsWith(p("8081:80")));
  EXPECT_FALSE(p("127.0.0.1:8080:80").ConflictsWith(p("127.0.0.2:8080:80")));
}

}  // namespace
}  // namespace warren

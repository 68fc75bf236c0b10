#include "vm/guest_agent.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "image/digest.h"

namespace warren {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::milliseconds;

// The test plays the guest on the other end of a socketpair. Replies can be
// written before the call: the socket buffers them, and request IDs start at 1.
class GuestAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    agent_ = GuestAgentOverFd(UniqueFd(sv[0]));
    guest_ = UniqueFd(sv[1]);
  }
  void Reply(const std::string& text) {
    ASSERT_EQ(::write(guest_.get(), text.data(), text.size()),
              static_cast<ssize_t>(text.size()));
  }
  // Everything the host has sent so far (non-blocking read).
  std::string Requests() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(guest_.get(), buf, sizeof(buf), MSG_DONTWAIT)) > 0) out.append(buf, n);
    return out;
  }

  std::unique_ptr<GuestAgent> agent_;
  UniqueFd guest_;
};

constexpr char kKey[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nsecretbytes\n-----END OPENSSH PRIVATE KEY-----\n";

GuestIdentity Identity() {
  GuestIdentity id;
  id.mac = {0x52, 0x54, 0x00, 0x0a, 0x4d, 0x02};
  id.ip_cidr = "10.77.0.9/24";
  id.gateway = "10.77.0.1";
  id.hostname = "clone-1";
  id.dns = "10.77.0.1";
  id.host_key_private_openssh = kKey;
  id.unix_time_ns = 1'700'000'000'000'000'042;
  id.random_seed_hex = std::string(64, 'a');
  return id;
}

TEST_F(GuestAgentTest, PingSendsOneLineAndTakesTheMatchingReply) {
  Reply("ok 1 warren-agent 1\n");
  ASSERT_TRUE(agent_->Ping(milliseconds(1000)).ok());
  EXPECT_EQ(Requests(), "ping 1\n");
}

TEST_F(GuestAgentTest, StaleRepliesOfTimedOutRequestsAreSkipped) {
  Status first = agent_->Ping(milliseconds(50));
  EXPECT_EQ(first.code(), Code::kDeadlineExceeded);
  EXPECT_THAT(first.message(), HasSubstr("docs/SNAPSHOTS.md"));
  // The late answer to request 1 is a failure: taking it for request 2's
  // would fail this Ping.
  Reply("err 1 late\r\n\nok 2 warren-agent 1\n");
  EXPECT_TRUE(agent_->Ping(milliseconds(1000)).ok());
  EXPECT_EQ(Requests(), "ping 1\nping 2\n");
}

TEST_F(GuestAgentTest, ErrReplyCarriesTheGuestsMessage) {
  Reply("err 1 ip: RTNETLINK answers: Operation not permitted\n");
  Status st = agent_->SetClock(5'000'000'001, milliseconds(1000));
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("clock failed in the guest: ip: RTNETLINK"));
  EXPECT_EQ(Requests(), "clock 1 5.000000001\n");
}

TEST_F(GuestAgentTest, ClosedSocketIsUnavailable) {
  guest_.Reset();
  Status st = agent_->Ping(milliseconds(1000));
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.message();
  EXPECT_EQ(agent_->Ping(milliseconds(1000)).code(), Code::kUnavailable);
}

TEST_F(GuestAgentTest, RequestsEchoedByAGuestTtyAreSkipped) {
  Reply("ping 1\r\nok 1 warren-agent 1\n");
  EXPECT_TRUE(agent_->Ping(milliseconds(1000)).ok());
}

TEST_F(GuestAgentTest, GarbageReplyIsAnErrorNotAHang) {
  Reply("hello there\n");
  EXPECT_EQ(agent_->Ping(milliseconds(1000)).code(), Code::kInternal);
}

TEST_F(GuestAgentTest, ReidentifySendsEveryFieldAndTheKeyOnlyInBase64) {
  Reply("ok 1\n");
  ASSERT_TRUE(agent_->Reidentify(Identity(), milliseconds(1000)).ok());
  EXPECT_EQ(Requests(), "reidentify 1 52:54:00:0a:4d:02 10.77.0.9/24 10.77.0.1 clone-1 "
                        "10.77.0.1 1700000000.000000042 " +
                            std::string(64, 'a') + " " + Base64Encode(kKey) + "\n");
}

TEST_F(GuestAgentTest, ErrorsNeverCarryTheHostKey) {
  Reply("err 1 dropbearconvert failed\n");
  Status st = agent_->Reidentify(Identity(), milliseconds(1000));
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_THAT(st.message(), Not(HasSubstr("secretbytes")));
  EXPECT_THAT(st.message(), Not(HasSubstr(Base64Encode(kKey))));
}

TEST(FormatReidentifyTest, EmptyOptionalFieldsAreDashes) {
  GuestIdentity id = Identity();
  id.gateway.clear();
  id.dns.clear();
  Result<std::string> line = FormatReidentify(3, id);
  ASSERT_TRUE(line.ok()) << line.error().message();
  EXPECT_THAT(*line, HasSubstr(" 10.77.0.9/24 - clone-1 - 1700000000"));
}

// The dropbear key, when given, is a tenth field of octal escapes only (no
// space, no '%': the agent's printf writes it as it is).
TEST(FormatReidentifyTest, DropbearKeyIsAnOptionalFieldOfOctalEscapes) {
  GuestIdentity id = Identity();
  Result<std::string> without = FormatReidentify(4, id);
  ASSERT_TRUE(without.ok());
  id.host_key_dropbear = std::string("\0\x0b ssh%", 7) + "\xff";
  Result<std::string> with = FormatReidentify(4, id);
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(*with, *without + " \\000\\013\\040\\163\\163\\150\\045\\377");
}

TEST(FormatReidentifyTest, RefusesFieldsThatCouldBreakTheLine) {
  struct Case {
    const char* name;
    void (*mutate)(GuestIdentity&);
    const char* want;
  };
  const Case cases[] = {
      {"cidr without length", [](GuestIdentity& i) { i.ip_cidr = "10.0.0.1"; }, "CIDR"},
      {"cidr with space", [](GuestIdentity& i) { i.ip_cidr = "10.0.0.1/24 x"; }, "CIDR"},
      {"octet out of range", [](GuestIdentity& i) { i.ip_cidr = "10.0.0.256/24"; }, "CIDR"},
      {"prefix too long", [](GuestIdentity& i) { i.ip_cidr = "10.0.0.1/33"; }, "CIDR"},
      {"gateway", [](GuestIdentity& i) { i.gateway = "gw"; }, "gateway"},
      {"dns", [](GuestIdentity& i) { i.dns = "1.2.3"; }, "DNS"},
      {"hostname space", [](GuestIdentity& i) { i.hostname = "a b"; }, "hostname"},
      {"hostname newline", [](GuestIdentity& i) { i.hostname = "a\nping 9"; }, "hostname"},
      {"hostname empty", [](GuestIdentity& i) { i.hostname.clear(); }, "hostname"},
      {"odd seed", [](GuestIdentity& i) { i.random_seed_hex += "a"; }, "seed"},
      {"short seed", [](GuestIdentity& i) { i.random_seed_hex = "abcd"; }, "seed"},
      {"non-hex seed", [](GuestIdentity& i) { i.random_seed_hex[3] = 'g'; }, "seed"},
      {"not a key", [](GuestIdentity& i) { i.host_key_private_openssh = "ssh-ed25519 AAAA"; },
       "OpenSSH private key"},
      {"multicast mac", [](GuestIdentity& i) { i.mac[0] = 0x01; }, "unicast"},
      {"no time", [](GuestIdentity& i) { i.unix_time_ns = 0; }, "epoch"},
  };
  for (const Case& c : cases) {
    GuestIdentity id = Identity();
    c.mutate(id);
    Result<std::string> line = FormatReidentify(1, id);
    ASSERT_FALSE(line.ok()) << c.name;
    EXPECT_EQ(line.error().code(), Code::kInvalidArgument) << c.name;
    EXPECT_THAT(line.error().message(), HasSubstr(c.want)) << c.name;
  }
}

TEST(FormatAgentTimeTest, NineFractionDigits) {
  EXPECT_EQ(*FormatAgentTime(1'000'000'000'123), "1000.000000123");
  EXPECT_EQ(*FormatAgentTime(1), "0.000000001");
  EXPECT_FALSE(FormatAgentTime(-5).ok());
}

TEST(ParseAgentReplyTest, Golden) {
  struct Case {
    std::string line;
    bool valid;
    uint64_t id;
    bool ok;
    std::string text;
  };
  const Case cases[] = {
      {"ok 1", true, 1, true, ""},
      {"ok 12 warren-agent 1", true, 12, true, "warren-agent 1"},
      {"err 3 no such device eth0", true, 3, false, "no such device eth0"},
      {"err 3", true, 3, false, ""},
      {"ok 18446744073709551615", true, 18446744073709551615ull, true, ""},
      {"ok 18446744073709551616", false, 0, false, ""},
      {"ok", false, 0, false, ""},
      {"ok ", false, 0, false, ""},
      {"ok x1", false, 0, false, ""},
      {"ok 1x", false, 0, false, ""},
      {"ok -1", false, 0, false, ""},
      {"OK 1", false, 0, false, ""},
      {"error 1", false, 0, false, ""},
      {"", false, 0, false, ""},
  };
  for (const Case& c : cases) {
    Result<AgentReply> r = ParseAgentReply(c.line);
    ASSERT_EQ(r.ok(), c.valid) << "\"" << c.line << "\"";
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
      continue;
    }
    EXPECT_EQ(r->id, c.id) << c.line;
    EXPECT_EQ(r->ok, c.ok) << c.line;
    EXPECT_EQ(r->text, c.text) << c.line;
  }
}

TEST(ConnectGuestAgentTest, NothingListeningIsUnavailableAndSaysWhy) {
  Result<std::unique_ptr<GuestAgent>> a =
      ConnectGuestAgent("/nonexistent-warren-test/vm.agent");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), Code::kUnavailable);
  EXPECT_THAT(a.error().message(), HasSubstr("is the VM running"));
}

}  // namespace
}  // namespace warren

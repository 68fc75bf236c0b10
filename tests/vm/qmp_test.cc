#include "vm/qemu/qmp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "sys/test_util.h"

namespace warren {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr auto kTimeout = std::chrono::milliseconds(5000);
constexpr const char* kGreeting =
    R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}})";

// The QEMU side of one connection, scripted by a test on its own thread.
class FakeQmpPeer {
 public:
  // Reads time out (30 s) so a daemon side that never writes fails the test.
  explicit FakeQmpPeer(int fd) : fd_(fd) {
    timeval tv{30, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  void Send(const std::string& text) {
    ASSERT_GT(::send(fd_.get(), text.data(), text.size(), MSG_NOSIGNAL), 0);
  }
  void SendLine(const std::string& text) { Send(text + "\r\n"); }
  // Reads one request line; empty json at EOF.
  json Read() {
    std::string line;
    char c;
    while (::read(fd_.get(), &c, 1) == 1) {
      if (c == '\n') return json::parse(line);
      line += c;
    }
    return json();
  }
  // Reads a request, checks its command, answers {"return": ret} with its id.
  void Expect(const std::string& command, const json& ret = json::object()) {
    json req = Read();
    ASSERT_EQ(req.value("execute", ""), command) << req.dump();
    SendLine(json{{"return", ret}, {"id", req["id"]}}.dump());
  }
  void Handshake() {
    SendLine(kGreeting);
    Expect("qmp_capabilities");
  }
  void Close() { fd_.Reset(); }

 private:
  UniqueFd fd_;
};

// A socketpair whose far end is driven by `script` on a thread.
class QmpTest : public ::testing::Test {
 protected:
  UniqueFd Start(std::function<void(FakeQmpPeer&)> script) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer_ = std::thread([fd = fds[1], script = std::move(script)] {
      FakeQmpPeer peer(fd);
      script(peer);
    });
    return UniqueFd(fds[0]);
  }
  void TearDown() override {
    if (peer_.joinable()) peer_.join();
  }
  std::thread peer_;
};

TEST_F(QmpTest, HandshakeThenQueryStatusSkippingAnInterleavedEvent) {
  UniqueFd fd = Start([](FakeQmpPeer& p) {
    p.Handshake();
    json req = p.Read();
    ASSERT_EQ(req["execute"], "query-status");
    p.SendLine(R"({"timestamp": {"seconds": 5, "microseconds": 7}, "event": "POWERDOWN"})");
    p.SendLine(
        json{{"return", {{"running", true}, {"status", "running"}}}, {"id", req["id"]}}.dump());
    p.Read();  // Wait for the client to hang up.
  });
  auto client = QmpClient::FromFd(std::move(fd), kTimeout);
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  Result<QmpStatus> st = (*client)->QueryStatus();
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_TRUE(st->running);
  EXPECT_EQ(st->status, "running");
  std::vector<QmpEvent> events = (*client)->TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "POWERDOWN");
  EXPECT_EQ(events[0].timestamp_us, 5000007);
  EXPECT_TRUE((*client)->TakeEvents().empty());
}

TEST_F(QmpTest, ErrorReplyBecomesFailedPreconditionWithQemusText) {
  UniqueFd fd = Start([](FakeQmpPeer& p) {
    p.Handshake();
    json req = p.Read();
    p.SendLine(json{
        {"error", {{"class", "CommandNotFound"}, {"desc", "The command frob has not been found"}}},
        {"id", req["id"]}}
                   .dump());
    p.Read();
  });
  auto client = QmpClient::FromFd(std::move(fd), kTimeout);
  ASSERT_TRUE(client.ok());
  Result<json> r = (*client)->Execute("frob", json{{"x", 1}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(r.error().message(), HasSubstr("CommandNotFound"));
  EXPECT_THAT(r.error().message(), HasSubstr("frob has not been found"));
}

TEST_F(QmpTest, ArgumentsAreSentAndStaleRepliesSkipped) {
  UniqueFd fd = Start([](FakeQmpPeer& p) {
    p.Handshake();
    json req = p.Read();
    ASSERT_EQ(req["arguments"], json({{"device", "vda"}}));
    p.SendLine(R"({"return": {"stale": true}, "id": 999})");
    p.SendLine(json{{"return", {{"fresh", true}}}, {"id", req["id"]}}.dump());
    p.Read();
  });
  auto client = QmpClient::FromFd(std::move(fd), kTimeout);
  ASSERT_TRUE(client.ok());
  Result<json> r = (*client)->Execute("query-block", json{{"device", "vda"}});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ((*r)["fresh"], true);
}

TEST_F(QmpTest, ServerClosingMidReplyIsUnavailable) {
  UniqueFd fd = Start([](FakeQmpPeer& p) {
    p.Handshake();
    p.Read();
    p.Send(R"({"return": {"runn)");
    p.Close();
  });
  auto client = QmpClient::FromFd(std::move(fd), kTimeout);
  ASSERT_TRUE(client.ok());
  Result<QmpStatus> st = (*client)->QueryStatus();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Code::kUnavailable);
  EXPECT_TRUE((*client)->closed());
  EXPECT_EQ((*client)->Execute("query-status").error().code(), Code::kUnavailable);
}

TEST_F(QmpTest, SilentServerHitsTheDeadline) {
  UniqueFd fd = Start([](FakeQmpPeer& p) {
    p.Handshake();
    p.Read();  // The request, never answered.
    p.Read();  // Returns when the client hangs up.
  });
  auto client = QmpClient::FromFd(std::move(fd), kTimeout);
  ASSERT_TRUE(client.ok());
  Result<json> r = (*client)->Execute("query-status", nullptr, std::chrono::milliseconds(50));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kDeadlineExceeded);
  client->reset();
}

TEST_F(QmpTest, WrongGreetingAndMalformedJsonAreInternal) {
  UniqueFd fd = Start([](FakeQmpPeer& p) { p.SendLine(R"({"hello": 1})"); });
  auto client = QmpClient::FromFd(std::move(fd), kTimeout);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code(), Code::kInternal);
  peer_.join();

  UniqueFd fd2 = Start([](FakeQmpPeer& p) { p.SendLine("{not json"); });
  auto client2 = QmpClient::FromFd(std::move(fd2), kTimeout);
  ASSERT_FALSE(client2.ok());
  EXPECT_EQ(client2.error().code(), Code::kInternal);
}

TEST_F(QmpTest, QuitAcceptsEofInsteadOfAReply) {
  UniqueFd fd = Start([](FakeQmpPeer& p) {
    p.Handshake();
    EXPECT_EQ(p.Read()["execute"], "quit");
    p.Close();
  });
  auto client = QmpClient::FromFd(std::move(fd), kTimeout);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE((*client)->Quit().ok());
  EXPECT_TRUE((*client)->closed());
}

TEST_F(QmpTest, WaitEventReturnsTheNamedEventAndDropsEarlierOnes) {
  UniqueFd fd = Start([](FakeQmpPeer& p) {
    p.Handshake();
    p.Expect("system_powerdown");
    p.SendLine(R"({"event": "POWERDOWN"})");
    p.SendLine(R"({"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}})");
    p.SendLine(R"({"event": "STOP"})");
    p.Read();
  });
  auto client = QmpClient::FromFd(std::move(fd), kTimeout);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->SystemPowerdown().ok());
  Result<QmpEvent> ev = (*client)->WaitEvent("SHUTDOWN", kTimeout);
  ASSERT_TRUE(ev.ok()) << ev.error().ToString();
  EXPECT_EQ(ev->data["reason"], "guest-shutdown");
  ASSERT_TRUE((*client)->WaitEvent("STOP", kTimeout).ok());
  Result<QmpEvent> none = (*client)->WaitEvent("RESET", std::chrono::milliseconds(20));
  EXPECT_EQ(none.error().code(), Code::kDeadlineExceeded);
}

TEST(QmpConnectTest, ConnectsOverAUnixSocketAndTimesOutWhenNothingListens) {
  TempDir dir;
  const std::filesystem::path path = dir.path() / "qmp.sock";
  Result<std::unique_ptr<QmpClient>> missing =
      QmpClient::Connect(path, std::chrono::milliseconds(50));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kDeadlineExceeded);

  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);
  std::thread server([&] {
    FakeQmpPeer p(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    p.Handshake();
    p.Expect("query-status", {{"running", false}, {"status", "prelaunch"}});
    p.Read();
  });
  Result<std::unique_ptr<QmpClient>> client = QmpClient::Connect(path, kTimeout);
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  Result<QmpStatus> st = (*client)->QueryStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->running);
  EXPECT_EQ(st->status, "prelaunch");
  client->reset();
  server.join();
}

}  // namespace
}  // namespace warren

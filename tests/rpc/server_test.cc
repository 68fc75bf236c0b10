#include "rpc/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>
#include <vector>

#include "rpc/client.h"
#include "rpc/errors.h"
#include "rpc/jsonrpc.h"
#include "rpc/rpc_socket_test_util.h"
#include "sys/test_util.h"
#include "rpc/test_methods.h"

namespace warren::rpc {
namespace {

using nlohmann::json;
using testing::RawConn;
using testing::ServerHarness;
using testing::TempDir;

std::unique_ptr<Client> MustConnect(const std::filesystem::path& socket) {
  auto client = Client::Connect(socket);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(*client) : nullptr;
}

// The bystander check: another client keeps being served.
void ExpectServes(Client& client) {
  auto r = client.Call("echo", {{"still", "here"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json({{"still", "here"}}));
}

json Req(int id, const char* method, json params) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

TEST(ServerTest, EchoRoundTrip) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto c = MustConnect(h.socket());
  ASSERT_TRUE(c);
  ExpectServes(*c);
}

TEST(ServerTest, SocketIsMode0660AndNoTempLeftBehind) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  struct stat st;
  ASSERT_EQ(::stat(h.socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(h.socket().parent_path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(ServerTest, GarbageBytesGetAnErrorThenCloseAndOthersAreServed) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto bystander = MustConnect(h.socket());
  ASSERT_TRUE(bystander);
  RawConn raw(h.socket());
  raw.Send("GARBAGE BYTES \x01\x02\x03 not a frame at all\n");
  json err = raw.ReadJson();
  EXPECT_EQ(err["error"]["code"], kInvalidRequest);
  EXPECT_NE(err["error"]["message"].get<std::string>().find("exceeds the limit"),
            std::string::npos);
  EXPECT_TRUE(raw.WaitEof());
  ExpectServes(*bystander);
}

TEST(ServerTest, UnknownFrameKindGetsAnErrorThenClose) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto bystander = MustConnect(h.socket());
  RawConn raw(h.socket());
  raw.Send(std::string("\x00\x00\x00\x02\x07{}", 7));
  json err = raw.ReadJson();
  EXPECT_NE(err["error"]["message"].get<std::string>().find("unknown frame kind 7"),
            std::string::npos);
  EXPECT_TRUE(raw.WaitEof());
  ExpectServes(*bystander);
}

TEST(ServerTest, InvalidJsonGetsParseErrorAndTheConnectionStaysUsable) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  RawConn raw(h.socket());
  raw.Send(EncodeJsonFrame("{this is not json"));
  json err = raw.ReadJson();
  EXPECT_EQ(err["error"]["code"], kParseError);
  EXPECT_TRUE(err["id"].is_null());
  raw.SendJson(Req(2, "echo", {{"a", 1}}));
  json ok = raw.ReadJson();
  EXPECT_EQ(ok["id"], 2);
  EXPECT_EQ(ok["result"], json({{"a", 1}}));
}

TEST(ServerTest, TruncatedFrameThenCloseLeavesOthersServed) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto bystander = MustConnect(h.socket());
  {
    RawConn raw(h.socket());
    std::string frame = EncodeJsonFrame(Req(1, "echo", json::object()).dump());
    raw.Send(frame.substr(0, frame.size() / 2));
  }
  ExpectServes(*bystander);
  // The truncated connection is reaped; only the bystander remains.
  ASSERT_TRUE(PollUntil([&] { return h.server().ConnectionCountForTest() == 1; },
                        std::chrono::seconds(30)))
      << "the server never counted the connection";
}

TEST(ServerTest, OversizedFrameGetsAnErrorThenClose) {
  ServerOptions options;
  options.max_frame_bytes = 1024;
  ServerHarness h(options);
  ASSERT_TRUE(h.ok());
  auto bystander = MustConnect(h.socket());
  RawConn raw(h.socket());
  raw.Send(EncodeJsonFrame(Req(1, "echo", {{"pad", std::string(2000, 'x')}}).dump()));
  json err = raw.ReadJson();
  std::string message = err["error"]["message"];
  EXPECT_NE(message.find("exceeds the limit of 1024; raise rpc.max_frame_bytes"),
            std::string::npos);
  EXPECT_TRUE(raw.WaitEof());
  ExpectServes(*bystander);
}

TEST(ServerTest, UnknownMethodIsMinus32601) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto bystander = MustConnect(h.socket());
  RawConn raw(h.socket());
  raw.SendJson(Req(4, "no.such.method", json::object()));
  json err = raw.ReadJson();
  EXPECT_EQ(err["id"], 4);
  EXPECT_EQ(err["error"]["code"], kMethodNotFound);
  ExpectServes(*bystander);
  auto c = MustConnect(h.socket());
  EXPECT_EQ(c->Call("no.such.method", json::object()).status().code(), Code::kNotFound);
}

TEST(ServerTest, WrongParamsAreMinus32602NamingTheField) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto bystander = MustConnect(h.socket());
  RawConn raw(h.socket());
  raw.SendJson(Req(5, "need_name", {{"name", 42}}));
  json err = raw.ReadJson();
  EXPECT_EQ(err["error"]["code"], kInvalidParams);
  EXPECT_EQ(err["error"]["message"], "field \"name\" must be a string, got number");
  EXPECT_EQ(err["error"]["data"]["code"], "invalid_argument");
  ExpectServes(*bystander);
  auto c = MustConnect(h.socket());
  Status st = c->Call("need_name", json::object()).status();
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "field \"name\" is required");
}

TEST(ServerTest, NonObjectParams) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto bystander = MustConnect(h.socket());
  RawConn raw(h.socket());
  raw.SendJson(Req(6, "need_name", json::array({"web"})));
  json array_err = raw.ReadJson();
  EXPECT_EQ(array_err["error"]["code"], kInvalidParams);
  raw.SendJson(Req(7, "need_name", 5));
  json scalar_err = raw.ReadJson();
  EXPECT_EQ(scalar_err["id"], 7);
  EXPECT_EQ(scalar_err["error"]["code"], kInvalidRequest);
  ExpectServes(*bystander);
}

TEST(ServerTest, ApplicationErrorsKeepTheirCode) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto c = MustConnect(h.socket());
  for (const char* slug :
       {"not_found", "already_exists", "failed_precondition", "unavailable", "cancelled",
        "deadline_exceeded", "resource_exhausted", "internal", "invalid_argument"}) {
    Status st = c->Call("fail", {{"code", slug}}).status();
    EXPECT_EQ(CodeSlug(st.code()), slug);
    EXPECT_EQ(st.message(), "asked to fail");
  }
}

TEST(ServerTest, NotificationsArriveBeforeTheReply) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto c = MustConnect(h.socket());
  std::vector<int> seen;
  auto r = c->Call("notify_n", {{"n", 5}}, [&](std::string_view method, const json& params) {
    EXPECT_EQ(method, "progress");
    seen.push_back(params["i"].get<int>());
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json({{"sent", 5}}));
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(ServerTest, CancelStopsASleep) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto c = MustConnect(h.socket());
  Client* client = c.get();
  auto r = c->Call("sleep", {{"ms", 600000}}, [client](std::string_view method, const json&) {
    if (method == "started") client->Cancel();
  });
  EXPECT_EQ(r.status().code(), Code::kCancelled);
  ExpectServes(*c);  // the connection is still good after a cancel
}

TEST(ServerTest, CancelFromAnotherThread) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto c = MustConnect(h.socket());
  std::promise<void> started;
  std::thread canceller;
  auto r = c->Call("sleep", {{"ms", 600000}}, [&](std::string_view method, const json&) {
    if (method == "started") canceller = std::thread([&] { c->Cancel(); });
  });
  canceller.join();
  EXPECT_EQ(r.status().code(), Code::kCancelled);
}

TEST(ServerTest, DisconnectFiresTheStopToken) {
  auto entered = std::make_shared<std::promise<void>>();
  auto stopped = std::make_shared<std::promise<void>>();
  std::vector<MethodRow> rows;
  rows.push_back({"block", Mutation::kReadOnly,
                  [entered, stopped](const json&, CallContext& ctx) -> Result<json> {
                    entered->set_value();
                    std::mutex mu;
                    std::condition_variable_any cv;
                    std::unique_lock<std::mutex> lock(mu);
                    cv.wait(lock, ctx.stop, [] { return false; });
                    stopped->set_value();
                    return Cancelled("stopped");
                  }});
  ServerHarness h({}, std::make_unique<Dispatcher>(std::move(rows)));
  ASSERT_TRUE(h.ok());
  RawConn raw(h.socket());
  raw.SendJson(Req(1, "block", json::object()));
  ASSERT_EQ(entered->get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  raw.Close();
  EXPECT_EQ(stopped->get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
}

TEST(ServerTest, TooManyPendingRequests) {
  ServerOptions options;
  options.max_requests_per_connection = 2;
  ServerHarness h(options);
  ASSERT_TRUE(h.ok());
  RawConn raw(h.socket());
  raw.SendJson(Req(1, "sleep", {{"ms", 600000}}));
  EXPECT_EQ(raw.ReadJson()["method"], "started");
  raw.Send(EncodeJsonFrame(Req(2, "echo", {{"n", 2}}).dump()) +
           EncodeJsonFrame(Req(3, "echo", {{"n", 3}}).dump()));
  json full = raw.ReadJson();
  EXPECT_EQ(full["id"], 3);
  EXPECT_EQ(full["error"]["code"], kResourceExhaustedError);
  EXPECT_NE(full["error"]["message"].get<std::string>().find("too many pending requests"),
            std::string::npos);
  raw.SendJson({{"jsonrpc", "2.0"}, {"method", "$/cancel"}, {"params", {{"id", 1}}}});
  json cancelled = raw.ReadJson();
  EXPECT_EQ(cancelled["id"], 1);
  EXPECT_EQ(cancelled["error"]["code"], kCancelledError);
  json second = raw.ReadJson();
  EXPECT_EQ(second["id"], 2);
  EXPECT_EQ(second["result"], json({{"n", 2}}));
}

TEST(ServerTest, StreamsFlowBothWays) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto c = MustConnect(h.socket());
  Client* client = c.get();
  const std::string big(200 * 1024, 'q');  // more than one outbound chunk
  std::string out;
  auto r = c->Call(
      "stream_echo", {{"stream", 9}},
      [&](std::string_view method, const json&) {
        if (method != "ready") return;
        EXPECT_TRUE(client->SendStream(9, kChannelStdin, std::string("hi\0there", 8)).ok());
        EXPECT_TRUE(client->SendStream(9, kChannelStdin, big).ok());
        EXPECT_TRUE(client->SendStream(9, kChannelControl, "").ok());
      },
      [&](uint32_t stream, uint8_t channel, std::string_view bytes) {
        EXPECT_EQ(stream, 9u);
        EXPECT_EQ(channel, kChannelStdout);
        out.append(bytes);
      });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(out, std::string("hi\0there", 8) + big);
  EXPECT_EQ((*r)["bytes"], 8 + big.size());
}

TEST(ServerTest, IdleConnectionIsClosed) {
  ServerOptions options;
  options.idle_timeout = std::chrono::seconds(1);
  ServerHarness h(options);
  ASSERT_TRUE(h.ok());
  RawConn raw(h.socket());
  raw.SendJson(Req(1, "echo", json::object()));
  EXPECT_EQ(raw.ReadJson()["id"], 1);
  EXPECT_TRUE(raw.WaitEof());
}

TEST(ServerTest, ConnectionCap) {
  ServerOptions options;
  options.max_connections = 2;
  ServerHarness h(options);
  ASSERT_TRUE(h.ok());
  auto a = MustConnect(h.socket());
  auto b = MustConnect(h.socket());
  ExpectServes(*a);
  ExpectServes(*b);
  auto c = MustConnect(h.socket());
  Status refused = c->Call("echo", json::object()).status();
  EXPECT_EQ(refused.code(), Code::kResourceExhausted);
  EXPECT_NE(refused.message().find("too many connections"), std::string::npos);
  ExpectServes(*a);
  // A freed slot is usable again once the server has reaped it.
  a.reset();
  ASSERT_TRUE(PollUntil([&] { return h.server().ConnectionCountForTest() == 1; },
                        std::chrono::seconds(30)))
      << "the server never counted the connection";
  auto d = MustConnect(h.socket());
  ExpectServes(*d);
}

TEST(ServerTest, TwoHundredConcurrentClientsFiftyCallsEach) {
  ServerOptions options;
  options.max_connections = 256;
  ServerHarness h(options);
  ASSERT_TRUE(h.ok());
  constexpr int kClients = 200;
  constexpr int kCalls = 50;
  std::atomic<int> failures{0};
  std::atomic<int> successes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      auto client = Client::Connect(h.socket());
      if (!client.ok()) {
        failures.fetch_add(kCalls);
        return;
      }
      for (int i = 0; i < kCalls; ++i) {
        auto r = (*client)->Call("echo", {{"t", t}, {"i", i}});
        if (r.ok() && *r == json({{"t", t}, {"i", i}})) {
          successes.fetch_add(1);
        } else {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(successes.load(), kClients * kCalls);
}

TEST(ServerTest, ShutdownWithClientsConnected) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto idle = MustConnect(h.socket());
  ExpectServes(*idle);
  auto busy = MustConnect(h.socket());
  std::promise<void> started;
  std::thread caller([&] {
    auto r = busy->Call("sleep", {{"ms", 600000}}, [&](std::string_view method, const json&) {
      if (method == "started") started.set_value();
    });
    EXPECT_FALSE(r.ok());
  });
  started.get_future().wait();
  h.Shutdown();
  caller.join();
  EXPECT_FALSE(std::filesystem::exists(h.socket()));
  EXPECT_EQ(idle->Call("echo", json::object()).status().code(), Code::kUnavailable);
  EXPECT_EQ(Client::Connect(h.socket()).status().code(), Code::kUnavailable);
}

TEST(ServerTest, DrainingRefusesMutatingCalls) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto c = MustConnect(h.socket());
  h.dispatcher().SetDraining();
  Status st = c->Call("mutate", json::object()).status();
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_EQ(st.message(), "daemon is shutting down");
  ExpectServes(*c);
}

TEST(ListenTest, RefusesWhenADaemonIsLive) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto d = testing::MakeTestDispatcher();
  ServerOptions options;
  options.socket = h.socket();
  auto second = Server::Listen(options, d.get());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kAlreadyExists);
  ExpectServes(*MustConnect(h.socket()));
}

TEST(ListenTest, RemovesAStaleSocket) {
  TempDir dir;
  const auto path = dir.path() / "stale.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);  // bound, never listened: a dead daemon's leftover
  auto d = testing::MakeTestDispatcher();
  ServerOptions options;
  options.socket = path;
  auto server = Server::Listen(options, d.get());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  (*server)->Shutdown();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ListenTest, RefusesANonSocketAndLeavesItAlone) {
  TempDir dir;
  const auto path = dir.path() / "not.sock";
  std::ofstream(path) << "precious";
  auto d = testing::MakeTestDispatcher();
  ServerOptions options;
  options.socket = path;
  auto server = Server::Listen(options, d.get());
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
}

TEST(ListenTest, RefusesAnOverlongPath) {
  auto d = testing::MakeTestDispatcher();
  ServerOptions options;
  options.socket = "/tmp/" + std::string(120, 'x');
  EXPECT_EQ(Server::Listen(options, d.get()).status().code(), Code::kInvalidArgument);
}

TEST(ClientTest, ConnectWithNobodyListening) {
  TempDir dir;
  auto c = Client::Connect(dir.path() / "nobody.sock");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), Code::kUnavailable);
  EXPECT_NE(c.error().message().find("cannot reach the warren daemon at"), std::string::npos);
  EXPECT_NE(c.error().message().find("start it with `warren daemon`"), std::string::npos);
}

}  // namespace
}  // namespace warren::rpc

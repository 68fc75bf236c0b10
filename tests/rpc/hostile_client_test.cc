// A client that sends what no warren client would: the server refuses it,
// drops at most that client's connection, and keeps serving everyone else.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rpc/client.h"
#include "rpc/errors.h"
#include "rpc/frame.h"
#include "rpc/jsonrpc.h"
#include "rpc/rpc_socket_test_util.h"
#include "rpc/stream_control.h"

namespace warren::rpc {
namespace {

using nlohmann::json;
using testing::RawConn;
using testing::ServerHarness;

std::vector<std::string> HostileControlPayloads() {
  std::string huge_array = "{\"resize\":[";
  for (int i = 0; i < 100000; ++i) huge_array += "1,";
  huge_array += "1]}";
  return {R"({"resize":["a",1]})", R"({"eof":"yes"})",         R"({"signal":5})",
          R"({"resize":[1e300,1]})", R"({"ack":-1})",          "not json at all",
          "{\"signal\":\"\xff\xfe\"}", huge_array,             std::string(1 << 16, '['),
          R"([{"eof":true}])",        R"({"eof":true,"x":1})"};
}

json Req(int id, const char* method, json params) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

void ExpectServes(const ServerHarness& h) {
  auto client = Client::Connect(h.socket());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto r = (*client)->Call("echo", {{"still", "here"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json({{"still", "here"}}));
}

// Wrong types in control payloads are refused one by one; the stream, its call
// and the connection carry on, and a valid payload after them still applies.
TEST(HostileClientTest, WrongTypedControlPayloadsAreRefusedAndTheCallGoesOn) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto c = Client::Connect(h.socket());
  ASSERT_TRUE(c.ok());
  Client* client = c->get();
  const std::vector<std::string> hostile = HostileControlPayloads();
  std::string out;
  auto r = client->Call(
      "stream_control", {{"stream", 7}},
      [&](std::string_view method, const json&) {
        if (method != "ready") return;
        for (const std::string& p : hostile) {
          EXPECT_TRUE(client->SendStream(7, kChannelControl, p).ok());
        }
        EXPECT_TRUE(client->SendStream(7, kChannelControl, ControlResize(80, 24)).ok());
        EXPECT_TRUE(client->SendStream(7, kChannelControl, ControlEof()).ok());
      },
      [&](uint32_t, uint8_t, std::string_view bytes) { out.append(bytes); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string want;
  for (size_t i = 0; i < hostile.size(); ++i) want += "refused\n";
  want += "ok:" + ControlResize(80, 24) + "\n" + "ok:" + ControlEof() + "\n";
  EXPECT_EQ(out, want);
  ExpectServes(h);
}

// Whatever a sink throws stays on its connection: that client is dropped, the
// daemon lives and answers the others. Before the connection contained it,
// this aborted the whole server (std::terminate on the reader thread).
TEST(HostileClientTest, AThrowingSinkDropsOnlyItsConnection) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  auto bystander = Client::Connect(h.socket());
  ASSERT_TRUE(bystander.ok());
  for (const char* payload : {R"({"resize":["a",1]})", R"({"eof":"yes"})"}) {
    RawConn raw(h.socket());
    raw.SendJson(Req(1, "untyped_control", {{"stream", 3}}));
    json ready = raw.ReadJson();
    ASSERT_EQ(ready["method"], "ready") << ready.dump();
    raw.Send(EncodeStreamFrame(3, kChannelControl, payload));
    EXPECT_TRUE(raw.WaitEof()) << payload;
    auto r = (*bystander)->Call("echo", {{"after", payload}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectServes(h);
  }
}

// Stream frames for streams nobody registered, and for a stream after its call
// ended, are dropped without disturbing the connection.
TEST(HostileClientTest, StreamFramesForUnknownStreamsAreDropped) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  RawConn raw(h.socket());
  for (const std::string& p : HostileControlPayloads()) {
    raw.Send(EncodeStreamFrame(42, kChannelControl, p));
    raw.Send(EncodeStreamFrame(0, 200, p));
  }
  raw.SendJson(Req(2, "echo", {{"a", 1}}));
  json reply = raw.ReadJson();
  EXPECT_EQ(reply["id"], 2);
  EXPECT_EQ(reply["result"], json({{"a", 1}}));
}

// Ids, methods and params with invalid UTF-8 or odd types: every request gets
// an answer (never a thrown dump()), and the connection stays usable.
TEST(HostileClientTest, HostileIdsAndStringsAreAnswered) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  RawConn raw(h.socket());
  const std::vector<std::string> frames = {
      "{\"jsonrpc\":\"2.0\",\"id\":\"\xff\xfe\",\"method\":\"need_name\",\"params\":{}}",
      "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"\xc3\x28\",\"params\":{}}",
      "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"need_name\",\"params\":{\"name\":\"\xed\xa0\x80\"}}",
      "{\"jsonrpc\":\"2.0\",\"id\":1e400,\"method\":\"echo\"}",
      "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"echo\"}",
      "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"echo\",\"params\":{\"\xff\":\"\xfe\"}}",
      "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"sleep\",\"params\":{\"ms\":18446744073709551615}}",
  };
  for (const std::string& f : frames) {
    raw.Send(EncodeJsonFrame(f));
    json reply = raw.ReadJson();
    EXPECT_FALSE(reply.is_null()) << f;
    EXPECT_TRUE(reply.contains("error") || reply.contains("result")) << reply.dump();
  }
  raw.SendJson(Req(11, "echo", {{"a", 1}}));
  EXPECT_EQ(raw.ReadJson()["id"], 11);
  ExpectServes(h);
}

// nlohmann recurses per nesting level: a frame nested 200k deep overflowed the
// reader thread's stack inside json::parse. It is refused before parsing.
TEST(HostileClientTest, DeeplyNestedJsonIsRefused) {
  ServerHarness h({});
  ASSERT_TRUE(h.ok());
  RawConn raw(h.socket());
  const size_t depth = 200000;
  raw.Send(EncodeJsonFrame(R"({"jsonrpc":"2.0","id":12,"method":"echo","params":{"a":)" +
                           std::string(depth, '[') + std::string(depth, ']') + "}}"));
  json reply = raw.ReadJson();
  EXPECT_EQ(reply["error"]["code"], kInvalidRequest) << reply.dump().substr(0, 200);
  json nested = json::array();
  for (size_t i = 0; i < kMaxJsonDepth - 3; ++i) nested = json::array({nested});
  raw.SendJson(Req(13, "echo", {{"a", nested}}));
  EXPECT_EQ(raw.ReadJson()["id"], 13);
  ExpectServes(h);
}

}  // namespace
}  // namespace warren::rpc

#include "shim/ttrpc.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include "shim/ttrpc_server.h"

namespace warren::shim::ttrpc {
namespace {

using namespace std::string_literals;

// Written by hand from ttrpc's channel.go and types.go (not produced by the
// encoder under test): a State request for task "t1" on stream 1.
const std::string kStateRequestFrame =
    "\x00\x00\x00\x26"s  // length 38
    "\x00\x00\x00\x01"s  // stream 1
    "\x01\x00"s          // request, no flags
    "\x0a\x17"s "containerd.task.v2.Task"s
    "\x12\x05"s "State"s
    "\x1a\x04"s "\x0a\x02t1"s;  // payload: StateRequest{id: "t1"}

TEST(TtrpcCodec, EncodesTheHandWrittenRequest) {
  Request r{"containerd.task.v2.Task", "State", "\x0a\x02t1", 0, {}};
  EXPECT_EQ(EncodeFrame(1, MessageType::kRequest, EncodeRequest(r)), kStateRequestFrame);
}

TEST(TtrpcCodec, DecodesTheHandWrittenRequest) {
  FrameDecoder d;
  d.Append(kStateRequestFrame.substr(0, 7));  // split mid-header
  auto none = d.Next();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  d.Append(kStateRequestFrame.substr(7));
  auto f = d.Next();
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->header.length, 38u);
  EXPECT_EQ((*f)->header.stream_id, 1u);
  EXPECT_EQ((*f)->header.type, 1);
  auto req = DecodeRequest((*f)->message);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->service, "containerd.task.v2.Task");
  EXPECT_EQ(req->method, "State");
  EXPECT_EQ(req->payload, "\x0a\x02t1");
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(TtrpcCodec, TimeoutAndMetadataRoundTrip) {
  // timeout_nano 1e9 = varint 80 94 eb dc 03; metadata {k: v}.
  const std::string want = "\x0a\x01s\x12\x01m\x20\x80\x94\xeb\xdc\x03\x2a\x06\x0a\x01k\x12\x01v"s;
  Request r{"s", "m", "", 1000000000, {{"k", "v"}}};
  EXPECT_EQ(EncodeRequest(r), want);
  auto back = DecodeRequest(want);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->timeout_nano, 1000000000);
  ASSERT_EQ(back->metadata.size(), 1u);
  EXPECT_EQ(back->metadata[0].second, "v");
}

TEST(TtrpcCodec, ResponseStatusBytes) {
  // Response{status: {code: 12, message: "no"}}; an OK one carries only the payload.
  EXPECT_EQ(EncodeResponse(Response{GrpcCode::kUnimplemented, "no", ""}),
            "\x0a\x06\x08\x0c\x12\x02no"s);
  EXPECT_EQ(EncodeResponse(Response{GrpcCode::kOk, "", "\x08\x01"}), "\x12\x02\x08\x01"s);
  auto r = DecodeResponse("\x0a\x06\x08\x0c\x12\x02no\x12\x01x"s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, GrpcCode::kUnimplemented);
  EXPECT_EQ(r->message, "no");
  EXPECT_EQ(r->payload, "x");
}

TEST(TtrpcCodec, UnknownFieldsAreSkippedAndBadOnesRefused) {
  // Field 9 of each wire type (varint, fixed64, bytes, fixed32) before the method.
  const std::string with_unknown =
      "\x48\x01\x49\x01\x02\x03\x04\x05\x06\x07\x08\x4a\x01z\x4d\x01\x02\x03\x04\x12\x01m"s;
  auto r = DecodeRequest(with_unknown);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->method, "m");
  EXPECT_FALSE(DecodeRequest("\x0a\x05"s "ab").ok());            // length past the end
  EXPECT_FALSE(DecodeRequest("\x08\x01"s).ok());              // service as a varint
  EXPECT_FALSE(DecodeRequest("\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s).ok());
  EXPECT_FALSE(DecodeRequest("\x4b"s).ok());                  // wire type 3 (groups)
}

TEST(TtrpcCodec, OversizedFrameIsRefused) {
  FrameDecoder d;
  d.Append(EncodeHeader(FrameHeader{kMaxMessageBytes + 1, 1, 1, 0}));
  auto f = d.Next();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Code::kResourceExhausted);
}

// A server on one end of a socketpair, a hand-driven client on the other.
class TtrpcServerTest : public ::testing::Test {
 protected:
  void Start(std::vector<MethodRow> table) {
    table_ = std::move(table);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0);
    struct timeval tv{30, 0};  // every read in these tests has a deadline
    ::setsockopt(fds_[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    server_ = std::thread([this] { ServeConnection(fds_[1], -1, table_); });
  }
  void TearDown() override {
    if (server_.joinable()) {
      ::shutdown(fds_[0], SHUT_RDWR);
      server_.join();
      ::close(fds_[0]);
      ::close(fds_[1]);
    }
  }
  void Send(uint32_t stream, const Request& r) {
    std::string f = EncodeFrame(stream, MessageType::kRequest, EncodeRequest(r));
    ASSERT_EQ(::write(fds_[0], f.data(), f.size()), static_cast<ssize_t>(f.size()));
  }
  // Next response frame, or nullopt when the server closed or 30 s passed.
  std::optional<std::pair<uint32_t, Response>> Receive() {
    char buf[4096];
    while (true) {
      auto f = decoder_.Next();
      if (!f.ok()) return std::nullopt;
      if (f->has_value()) {
        auto r = DecodeResponse((*f)->message);
        if (!r.ok()) return std::nullopt;
        return std::make_pair((*f)->header.stream_id, *r);
      }
      ssize_t n = ::read(fds_[0], buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      decoder_.Append(std::string_view(buf, n));
    }
  }

  std::vector<MethodRow> table_;
  int fds_[2] = {-1, -1};
  std::thread server_;
  FrameDecoder decoder_;
};

TEST_F(TtrpcServerTest, DispatchesByServiceAndMethod) {
  Start({{"svc", "Echo", [](std::string_view p) -> Result<std::string> { return std::string(p); }},
         {"svc", "Fail", [](std::string_view) -> Result<std::string> {
            return NotFound("task t9 not found");
          }}});
  Send(1, {"svc", "Echo", "abc", 0, {}});
  auto r = Receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 1u);
  EXPECT_EQ(r->second.code, GrpcCode::kOk);
  EXPECT_EQ(r->second.payload, "abc");

  Send(3, {"svc", "Fail", "", 0, {}});
  r = Receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 3u);
  EXPECT_EQ(r->second.code, GrpcCode::kNotFound);
  EXPECT_EQ(r->second.message, "task t9 not found");

  Send(5, {"svc", "Checkpoint", "", 0, {}});
  r = Receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->second.code, GrpcCode::kUnimplemented);
}

TEST_F(TtrpcServerTest, ABlockedCallDoesNotHoldUpOthers) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Start({{"svc", "Wait", [released](std::string_view) -> Result<std::string> {
            released.wait_for(std::chrono::seconds(30));
            return std::string("waited");
          }},
         {"svc", "State", [](std::string_view) -> Result<std::string> { return std::string("s"); }}});
  Send(1, {"svc", "Wait", "", 0, {}});
  Send(3, {"svc", "State", "", 0, {}});
  auto first = Receive();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first, 3u);  // State answered while Wait still blocks
  release.set_value();
  auto second = Receive();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->first, 1u);
  EXPECT_EQ(second->second.payload, "waited");
}

TEST_F(TtrpcServerTest, OversizedFrameClosesTheConnection) {
  Start({});
  std::string h = EncodeHeader(FrameHeader{kMaxMessageBytes + 1, 1, 1, 0});
  ASSERT_EQ(::write(fds_[0], h.data(), h.size()), 10);
  char c;
  EXPECT_EQ(::read(fds_[0], &c, 1), 0);  // EOF (a read timeout would be -1)
}

}  // namespace
}  // namespace warren::shim::ttrpc

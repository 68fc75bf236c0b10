#include "rpc/frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warren::rpc {
namespace {

// Drains every complete frame; fails the test on a decoder error.
std::vector<Frame> DrainAll(FrameDecoder& d) {
  std::vector<Frame> out;
  while (true) {
    auto next = d.Next();
    EXPECT_TRUE(next.ok()) << next.status().ToString();
    if (!next.ok() || !next->has_value()) return out;
    out.push_back(std::move(**next));
  }
}

std::string Sample() {
  std::string bytes = EncodeJsonFrame(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  bytes += EncodeStreamFrame(7, kChannelStdout, std::string("bin\0ary\xff", 8));
  bytes += EncodeStreamFrame(0xdeadbeef, kChannelControl, "");
  bytes += EncodeJsonFrame("");
  return bytes;
}

void ExpectSample(const std::vector<Frame>& frames) {
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].kind, FrameKind::kJson);
  EXPECT_EQ(frames[0].payload, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  EXPECT_EQ(frames[1].kind, FrameKind::kStream);
  EXPECT_EQ(frames[1].stream, 7u);
  EXPECT_EQ(frames[1].channel, kChannelStdout);
  EXPECT_EQ(frames[1].payload, std::string("bin\0ary\xff", 8));
  EXPECT_EQ(frames[2].stream, 0xdeadbeefu);
  EXPECT_EQ(frames[2].channel, kChannelControl);
  EXPECT_EQ(frames[2].payload, "");
  EXPECT_EQ(frames[3].kind, FrameKind::kJson);
  EXPECT_EQ(frames[3].payload, "");
}

TEST(FrameTest, HeaderIsBigEndianLengthThenKind) {
  std::string f = EncodeJsonFrame("{}");
  EXPECT_EQ(f, std::string("\x00\x00\x00\x02\x01{}", 7));
  std::string s = EncodeStreamFrame(0x01020304, kChannelStderr, "x");
  EXPECT_EQ(s, std::string("\x00\x00\x00\x06\x02\x01\x02\x03\x04\x02x", 11));
}

TEST(FrameTest, DecodesWholeBuffer) {
  FrameDecoder d;
  d.Feed(Sample());
  ExpectSample(DrainAll(d));
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameTest, SplitAtEveryByteBoundary) {
  const std::string bytes = Sample();
  for (size_t cut = 0; cut <= bytes.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    FrameDecoder d;
    std::vector<Frame> frames;
    d.Feed(std::string_view(bytes).substr(0, cut));
    for (Frame& f : DrainAll(d)) frames.push_back(std::move(f));
    d.Feed(std::string_view(bytes).substr(cut));
    for (Frame& f : DrainAll(d)) frames.push_back(std::move(f));
    ExpectSample(frames);
  }
}

TEST(FrameTest, OneByteAtATime) {
  const std::string bytes = Sample();
  FrameDecoder d;
  std::vector<Frame> frames;
  for (char c : bytes) {
    d.Feed(std::string_view(&c, 1));
    for (Frame& f : DrainAll(d)) frames.push_back(std::move(f));
  }
  ExpectSample(frames);
}

TEST(FrameTest, OversizedIsRejectedFromTheHeaderAlone) {
  FrameDecoder d(1024);
  d.Feed(EncodeJsonFrame(std::string(1025, 'x')).substr(0, kFrameHeaderBytes));
  auto next = d.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(next.error().message(),
            "frame of 1025 bytes exceeds the limit of 1024; raise rpc.max_frame_bytes");
}

TEST(FrameTest, ExactlyAtTheLimitIsAccepted) {
  FrameDecoder d(1024);
  d.Feed(EncodeJsonFrame(std::string(1024, 'x')));
  auto frames = DrainAll(d);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].payload.size(), 1024u);
}

TEST(FrameTest, UnknownKindIsAnErrorAndSticky) {
  FrameDecoder d;
  d.Feed(std::string("\x00\x00\x00\x00\x09", 5));
  auto next = d.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().message().find("unknown frame kind 9"), std::string::npos);
  d.Feed(EncodeJsonFrame("{}"));
  EXPECT_FALSE(d.Next().ok());
}

TEST(FrameTest, StreamFrameShorterThanItsHeaderIsAnError) {
  FrameDecoder d;
  d.Feed(std::string("\x00\x00\x00\x04\x02\x00\x00\x00\x01", 9));
  EXPECT_FALSE(d.Next().ok());
}

TEST(FrameTest, IncompleteFrameWaitsForMoreBytes) {
  FrameDecoder d;
  std::string f = EncodeJsonFrame("hello");
  d.Feed(f.substr(0, f.size() - 1));
  auto next = d.Next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  EXPECT_EQ(d.buffered(), f.size() - 1);
}

TEST(FrameTest, EncodeFrameMatchesSpecificEncoders) {
  Frame s{FrameKind::kStream, 3, kChannelStdin, "abc"};
  EXPECT_EQ(EncodeFrame(s), EncodeStreamFrame(3, kChannelStdin, "abc"));
  Frame j{FrameKind::kJson, 0, 0, "{}"};
  EXPECT_EQ(EncodeFrame(j), EncodeJsonFrame("{}"));
}

TEST(FrameTest, ManyFramesKeepTheBufferBounded) {
  FrameDecoder d;
  const std::string f = EncodeStreamFrame(1, kChannelStdout, std::string(100, 'z'));
  for (int i = 0; i < 10000; ++i) {
    d.Feed(f);
    ASSERT_EQ(DrainAll(d).size(), 1u);
  }
  EXPECT_EQ(d.buffered(), 0u);
}

}  // namespace
}  // namespace warren::rpc

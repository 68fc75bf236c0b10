// LineChannel over a socketpair: lines split and joined as they arrive, bounds,
// EOF and deadlines as errors, and a descriptor passed with the first byte.
#include "sys/line_channel.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace warren {
namespace {

using namespace std::chrono_literals;

struct Pair {
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ours = UniqueFd(sv[0]);
    theirs = UniqueFd(sv[1]);
  }
  void Say(std::string_view s) const {
    ASSERT_EQ(::write(theirs.get(), s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  UniqueFd ours, theirs;
};

LineChannel::Clock::time_point Soon() { return LineChannel::Clock::now() + 2s; }

TEST(LineChannelTest, LinesAcrossReadsWithoutCrOrBlankLines) {
  Pair p;
  LineChannel ch(std::move(p.ours), 64, "test socket", "the peer left");
  p.Say("one\r\n\ntw");
  Result<std::string> a = ch.ReadLine(Soon());
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ(*a, "one");
  p.Say("o\nthree\n");
  EXPECT_EQ(*ch.ReadLine(Soon()), "two");
  EXPECT_EQ(*ch.ReadLine(Soon()), "three");
}

TEST(LineChannelTest, DeadlineEofAndOverlongLineAreErrors) {
  Pair p;
  LineChannel ch(std::move(p.ours), 8, "test socket", "the peer left");
  Result<std::string> none = ch.ReadLine(LineChannel::Clock::now() + 20ms);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), Code::kDeadlineExceeded);
  p.Say("0123456789abcdef");
  Result<std::string> long_line = ch.ReadLine(Soon());
  ASSERT_FALSE(long_line.ok());
  EXPECT_EQ(long_line.error().code(), Code::kInternal);
  EXPECT_NE(long_line.error().message().find("test socket"), std::string::npos);

  Pair q;
  LineChannel eof(std::move(q.ours), 64, "test socket", "the peer left");
  q.Say("partial");
  q.theirs.Reset();
  Result<std::string> gone = eof.ReadLine(Soon());
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Code::kUnavailable);
  EXPECT_EQ(gone.error().message(), "the peer left");
  EXPECT_TRUE(eof.closed());
  EXPECT_EQ(eof.Write("x\n", Soon()).code(), Code::kUnavailable);
}

TEST(LineChannelTest, WritePassesADescriptorWithTheFirstByte) {
  Pair p;
  LineChannel ch(std::move(p.ours), 64, "test socket", "the peer left");
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  ASSERT_TRUE(ch.Write("getfd\n", Soon(), pipefd[1]).ok());
  char buf[16] = {};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov = {buf, sizeof(buf)};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ASSERT_EQ(::recvmsg(p.theirs.get(), &msg, 0), 6);
  EXPECT_EQ(std::string(buf, 6), "getfd\n");
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  ASSERT_NE(cm, nullptr);
  ASSERT_EQ(cm->cmsg_type, SCM_RIGHTS);
  int got = -1;
  std::memcpy(&got, CMSG_DATA(cm), sizeof(int));
  UniqueFd received(got);
  ASSERT_EQ(::write(received.get(), "z", 1), 1);  // the same pipe: readable at its other end
  char c = 0;
  ASSERT_EQ(::read(pipefd[0], &c, 1), 1);
  EXPECT_EQ(c, 'z');
  ::close(pipefd[0]);
  ::close(pipefd[1]);
}

}  // namespace
}  // namespace warren

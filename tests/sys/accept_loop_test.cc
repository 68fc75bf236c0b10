// sys::AcceptLoop over a loopback TCP listener with a fake connection that
// serves until its client closes, the stop eventfd fires or Stop() is called.
#include "sys/accept_loop.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace warren::sys {
namespace {

constexpr auto kDeadline = std::chrono::seconds(10);

class EchoUntilClosed final : public ServedConnection {
 public:
  EchoUntilClosed(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd) {}
  ~EchoUntilClosed() override { ::close(fd_); }
  void Run() override {
    while (!stopped_.load()) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(fds, 2, 20) < 0 || fds[1].revents != 0) break;
      if (fds[0].revents == 0) continue;
      char buf[64];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      (void)::write(fd_, buf, static_cast<size_t>(n));
    }
    done_.store(true);
  }
  bool done() const override { return done_.load(); }
  void Stop() override { stopped_.store(true); }

 private:
  const int fd_;
  const int stop_fd_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> done_{false};
};

int ListenLoopback(uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(fd, 128), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A connected client socket (blocking, 10 s receive timeout), or -1.
int Dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{10, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// "x" echoed back: the connection is served.
bool Echoes(int fd) {
  char c = 0;
  return ::write(fd, "x", 1) == 1 && ::read(fd, &c, 1) == 1 && c == 'x';
}

template <typename Pred>
bool PollUntil(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class AcceptLoopTest : public ::testing::Test {
 protected:
  void Start(int max_connections) {
    listen_fd_ = ListenLoopback(&port_);
    AcceptLoop** self = &raw_;
    Result<std::unique_ptr<AcceptLoop>> loop = AcceptLoop::Create({
        .name = "test",
        .listen_fd = listen_fd_,
        .accept_flags = 0,
        .max_connections = max_connections,
        .make = [self](int fd) -> std::shared_ptr<ServedConnection> {
          return std::make_shared<EchoUntilClosed>(fd, (*self)->stop_fd());
        },
        .refuse = [this](int fd) {
          refused_.fetch_add(1);
          (void)::send(fd, "busy", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
        },
    });
    ASSERT_TRUE(loop.ok()) << loop.status().ToString();
    loop_ = std::move(*loop);
    raw_ = loop_.get();
    serve_ = std::thread([this] { loop_->Serve(); });
  }
  void TearDown() override {
    if (loop_) loop_->Shutdown();
    if (serve_.joinable()) serve_.join();
    loop_.reset();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> refused_{0};
  AcceptLoop* raw_ = nullptr;
  std::unique_ptr<AcceptLoop> loop_;
  std::thread serve_;
};

TEST_F(AcceptLoopTest, ServesUpToTheLimitAndRefusesBeyond) {
  Start(2);
  int a = Dial(port_), b = Dial(port_);
  ASSERT_TRUE(Echoes(a) && Echoes(b));
  int c = Dial(port_);
  char got[8] = {};
  EXPECT_EQ(::read(c, got, sizeof got), 4);  // "busy", then closed
  EXPECT_EQ(std::string(got, 4), "busy");
  EXPECT_EQ(::read(c, got, sizeof got), 0);
  EXPECT_EQ(refused_.load(), 1);
  ::close(c);
  // A client that leaves frees its slot once reaped.
  ::close(a);
  EXPECT_TRUE(PollUntil([&] { return loop_->ConnectionCountForTest() == 1; }));
  int d = Dial(port_);
  EXPECT_TRUE(Echoes(d));
  EXPECT_TRUE(Echoes(b));
  ::close(b);
  ::close(d);
}

TEST_F(AcceptLoopTest, TrimsOnlyAfterABurstHasEndedWithFewLeft) {
  Start(128);
  std::vector<int> burst;
  for (int i = 0; i < AcceptLoop::kTrimAfterEnded + int{AcceptLoop::kTrimWhenLive} + 1; ++i) {
    burst.push_back(Dial(port_));
    ASSERT_TRUE(Echoes(burst.back()));
  }
  // All but kTrimWhenLive + 1 end: enough ended, too many live.
  while (burst.size() > AcceptLoop::kTrimWhenLive + 1) {
    ::close(burst.back());
    burst.pop_back();
  }
  ASSERT_TRUE(PollUntil([&] {
    return loop_->ConnectionCountForTest() == static_cast<int>(AcceptLoop::kTrimWhenLive) + 1;
  }));
  EXPECT_EQ(loop_->TrimsForTest(), 0);
  // One more ends: few enough live, the heap is trimmed once.
  ::close(burst.back());
  burst.pop_back();
  EXPECT_TRUE(PollUntil([&] { return loop_->TrimsForTest() == 1; }));
  EXPECT_EQ(loop_->TrimsForTest(), 1);
  for (int fd : burst) ::close(fd);
}

TEST_F(AcceptLoopTest, StopAllEndsConnectionsAndShutdownJoinsTheRest) {
  Start(8);
  int a = Dial(port_);
  ASSERT_TRUE(Echoes(a));
  loop_->StopAll();
  char c;
  EXPECT_EQ(::read(a, &c, 1), 0);  // closed by the server
  EXPECT_TRUE(PollUntil([&] { return loop_->ConnectionCountForTest() == 0; }));
  int b = Dial(port_);
  ASSERT_TRUE(Echoes(b));  // still accepting
  loop_->Shutdown();        // the stop eventfd ends b's connection; Serve returns
  serve_.join();
  EXPECT_EQ(::read(b, &c, 1), 0);
  loop_->Shutdown();  // idempotent
  ::close(a);
  ::close(b);
}

}  // namespace
}  // namespace warren::sys

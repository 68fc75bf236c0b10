// Stdin and its EOF must reach the guest even when the guest stops reading
// for a while and the command's output has filled the daemon's buffer (so the
// pump has nothing to read and no reason to call into libssh). A relay
// between the link and dropbear pauses the guest-bound direction, with tiny
// socket buffers: the pump's send of stdin then waits, the client's EOF
// arrives meanwhile (it must not be recorded as sent with those bytes), and
// libssh may keep the last packets in its output buffer until a poll sees the
// socket writable (the pump must wait for POLLOUT and flush).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "net/fresh_netns.h"
#include "session/dropbear_server.h"
#include "session/guest_link.h"
#include "session/guest_socket.h"
#include "session/libssh_dialer.h"

namespace warren {
namespace {

constexpr int kServerPort = 2222;
constexpr int kRelayPort = 2223;
// Smallest buffers the kernel allows on both sides of the link's TCP
// connection, so a few KiB of stdin already make libssh's writes wait.
constexpr int kTinyBuffer = 1024;

// Forwards one TCP connection from 127.0.0.1:kRelayPort to dropbear; the
// guest-bound direction can be paused. Blocking I/O on two threads, small
// chunks so a pause takes effect within a KiB.
class PausableRelay {
 public:
  PausableRelay() {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Inherited by the accepted socket: a small receive window towards us.
    ::setsockopt(listen_, SOL_SOCKET, SO_RCVBUF, &kTinyBuffer, sizeof(kTinyBuffer));
    sockaddr_in a = Loopback(kRelayPort);
    ok_ = ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
          ::listen(listen_, 1) == 0;
    if (ok_) accepter_ = std::thread([this] { Accept(); });
  }
  ~PausableRelay() {
    Resume();
    ::shutdown(listen_, SHUT_RDWR);
    if (client_ >= 0) ::shutdown(client_, SHUT_RDWR);
    if (server_ >= 0) ::shutdown(server_, SHUT_RDWR);
    if (accepter_.joinable()) accepter_.join();
    for (auto& t : pipes_) t.join();
    for (int fd : {listen_, client_.load(), server_.load()}) {
      if (fd >= 0) ::close(fd);
    }
  }
  bool ok() const { return ok_; }
  uint64_t to_client() const { return to_client_; }

  void Pause() {
    std::lock_guard<std::mutex> l(mu_);
    paused_ = true;
  }
  void Resume() {
    {
      std::lock_guard<std::mutex> l(mu_);
      paused_ = false;
    }
    cv_.notify_all();
  }
  // Bytes the link sent that wait unread in the relay's socket.
  int UnreadFromClient() const {
    int n = 0;
    return client_ >= 0 && ::ioctl(client_, FIONREAD, &n) == 0 ? n : 0;
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }
  void Accept() {
    client_ = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client_ < 0) return;
    server_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Loopback(kServerPort);
    if (::connect(server_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
    pipes_.emplace_back([this] { Pipe(client_, server_, true); });
    pipes_.emplace_back([this] { Pipe(server_, client_, false); });
  }
  void Pipe(int from, int to, bool pausable) {
    char buf[1024];
    while (true) {
      if (pausable) {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return !paused_; });
      }
      ssize_t n = ::read(from, buf, sizeof(buf));
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
        if (w <= 0) return;
        off += w;
      }
      if (!pausable) to_client_ += static_cast<uint64_t>(n);
    }
    ::shutdown(to, SHUT_WR);
  }

  int listen_ = -1;
  std::atomic<int> client_{-1};
  std::atomic<int> server_{-1};
  bool ok_ = false;
  std::thread accepter_;
  std::vector<std::thread> pipes_;
  std::atomic<uint64_t> to_client_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = false;
};

// Polls `done` every 50 ms for at most `deadline`.
template <typename F>
bool WaitUntil(std::chrono::seconds deadline, F done) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

TEST(GuestPumpTest, StdinAndEofReachAGuestThatPausedWhileOutputBacksUp) {
  IN_FRESH_NETNS([&](const std::string& scratch) {
    ASSERT_TRUE(RunForTest("ip link set lo up"));
    SshTestKeys keys;
    if (!keys.Make(scratch)) return;
    DropbearServer server;
    server.Start(keys, kServerPort);
    {  // dropbear is up once a plain connection gets through
      LibsshDialer direct(HostSocketFactory());
      auto up = direct.WaitForSsh(keys.Endpoint(kServerPort),
                                  std::chrono::steady_clock::now() + std::chrono::seconds(20),
                                  std::stop_token());
      ASSERT_TRUE(up.ok()) << up.error().ToString();
    }
    PausableRelay relay;
    ASSERT_TRUE(relay.ok());
    SocketFactory host = HostSocketFactory();
    std::atomic<int> link_fd{-1};  // the link's socket, to see what libssh left unread
    LibsshDialer dialer([&](const std::string& ip, int port, std::chrono::milliseconds t) {
      Result<UniqueFd> fd = host(ip, port, t);
      if (fd.ok()) {
        ::setsockopt(fd->get(), SOL_SOCKET, SO_SNDBUF, &kTinyBuffer, sizeof(kTinyBuffer));
        link_fd = fd->get();
      }
      return fd;
    });
    auto conn = dialer.Dial(keys.Endpoint(kRelayPort), std::chrono::seconds(10));
    ASSERT_TRUE(conn.ok()) << conn.error().ToString();
    // No keepalive: its probes also flush libssh's buffer, every 2 s of
    // silence, which would hide a pump that never does.
    LinkOptions options;
    options.keepalive_interval = std::chrono::milliseconds(0);
    GuestLink link("vm1", std::move(*conn), options);

    // A little more output than the daemon buffers for a process
    // (kProcessOutputBytes), then the command reads its stdin.
    constexpr size_t kOutput = kProcessOutputBytes + 20'000;
    const std::string got = keys.dir + "/got";
    ExecSpec spec;
    spec.argv = {"sh", "-c",
                 "head -c " + std::to_string(kOutput) + " /dev/zero; cat > " + keys.dir +
                     "/in; touch " + got};
    auto p = link.Start(spec);
    ASSERT_TRUE(p.ok()) << p.error().ToString();
    // Nobody reads the output yet: the process's buffer fills and libssh
    // takes in the rest (its socket drained), so the pump has nothing to read
    // and no reason to call into libssh.
    ASSERT_TRUE(WaitUntil(std::chrono::seconds(30), [&] {
      int unread = 0;
      return relay.to_client() >= kOutput && ::ioctl(link_fd, FIONREAD, &unread) == 0 &&
             unread == 0;
    })) << "the guest's output did not arrive";

    // The guest stops reading its socket while stdin and EOF are handed over:
    // the kernel buffers fill, libssh queues the rest.
    relay.Pause();
    const std::string input(16 * 1024, 'x');  // within dropbear's first window
    ASSERT_TRUE((*p)->Write(input).ok());
    ASSERT_TRUE(WaitUntil(std::chrono::seconds(10), [&] { return relay.UnreadFromClient() > 0; }))
        << "the pump never started sending stdin";
    // The client's EOF right behind its last bytes, while the pump is still
    // busy sending them (libssh keeps the socket blocking, so the pump waits
    // in send() until the relay goes on): it must still be sent afterwards.
    (*p)->CloseStdin();
    // Time for the pump to hand everything to libssh and go idle; if it did
    // not, this test can only pass, never fail wrongly.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    relay.Resume();

    // The command can finish only if every stdin byte and the EOF reached it.
    bool finished =
        WaitUntil(std::chrono::seconds(20), [&] { return std::filesystem::exists(got); });
    EXPECT_TRUE(finished) << "the guest never got all of stdin and its EOF (an EOF recorded as "
                             "sent but never sent, or bytes left in libssh)";
    if (!finished) {
      (*p)->Terminate();
      return;
    }
    std::string out;
    std::optional<int> exit_code;
    std::stop_source give_up;
    std::jthread watchdog([&](std::stop_token done) {
      WaitUntil(std::chrono::seconds(30), [&] { return done.stop_requested(); });
      give_up.request_stop();
    });
    bool ended = false;
    while (!ended && !give_up.stop_requested()) {
      ProcessUpdate u = (*p)->Next(give_up.get_token());
      out += u.out;
      ended = u.ended;
      exit_code = u.exit_code;
    }
    ASSERT_TRUE(ended) << "the command did not end after its input arrived";
    EXPECT_EQ(exit_code, 0);
    EXPECT_EQ(out.size(), kOutput);
    EXPECT_EQ(ReadFileForTest(keys.dir + "/in"), input);
  });
}

}  // namespace
}  // namespace warren

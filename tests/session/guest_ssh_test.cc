#include "session/guest_ssh.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "net/fresh_netns.h"
#include "net/netns.h"
#include "session/dropbear_server.h"
#include "session/guest_socket.h"
#include "session/libssh_dialer.h"

namespace warren {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr int kPort = 2222;  // the test's own namespace, so no clash is possible

// Runs `body` in a fresh network + mount namespace with keys made and `lo` up.
template <typename F>
void WithKeys(F body) {
  IN_FRESH_NETNS([&](const std::string& scratch) {
    if (!RunForTest("ip link set lo up")) {
      ADD_FAILURE() << "bringing lo up";
      return;
    }
    SshTestKeys keys;
    if (keys.Make(scratch)) body(keys);
  });
}

// Connects to a running server and fails the test if that does not work.
std::unique_ptr<GuestConnection> MustConnect(LibsshDialer& dialer, const GuestEndpoint& ep) {
  auto conn = dialer.WaitForSsh(ep, steady_clock::now() + seconds(20), std::stop_token());
  if (!conn.ok()) {
    ADD_FAILURE() << conn.error().ToString();
    return nullptr;
  }
  return std::move(*conn);
}

int CountOpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (d != nullptr && ::readdir(d) != nullptr) ++n;
  if (d != nullptr) ::closedir(d);
  return n;
}

TEST(GuestSshTest, ExecCollectsOutputExitCodeAndStderr) {
  WithKeys([](const SshTestKeys& keys) {
    DropbearServer server;
    server.Start(keys, kPort);
    LibsshDialer dialer(HostSocketFactory());
    auto conn = MustConnect(dialer, keys.Endpoint(kPort));
    if (!conn) return;

    auto hi = conn->Exec({"echo", "hi"}, "", std::stop_token());
    ASSERT_TRUE(hi.ok()) << hi.error().ToString();
    EXPECT_EQ(hi->out, "hi\n");
    EXPECT_EQ(hi->err, "");
    EXPECT_EQ(hi->exit_code, 0);

    auto three = conn->Exec({"sh", "-c", "exit 3"}, "", std::stop_token());
    ASSERT_TRUE(three.ok()) << three.error().ToString();
    EXPECT_EQ(three->exit_code, 3);

    auto split = conn->Exec({"sh", "-c", "echo out; echo err >&2; exit 1"}, "", std::stop_token());
    ASSERT_TRUE(split.ok()) << split.error().ToString();
    EXPECT_EQ(split->out, "out\n");
    EXPECT_EQ(split->err, "err\n");
    EXPECT_EQ(split->exit_code, 1);
  });
}

TEST(GuestSshTest, ArgvSurvivesTheRemoteShell) {
  WithKeys([](const SshTestKeys& keys) {
    DropbearServer server;
    server.Start(keys, kPort);
    LibsshDialer dialer(HostSocketFactory());
    auto conn = MustConnect(dialer, keys.Endpoint(kPort));
    if (!conn) return;
    auto r =
        conn->Exec({"printf", "[%s]", "it's", "$HOME", "a b", "", "*;`x`"}, "", std::stop_token());
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->out, "[it's][$HOME][a b][][*;`x`]");
  });
}

TEST(GuestSshTest, StdinIsForwardedInFull) {
  WithKeys([](const SshTestKeys& keys) {
    DropbearServer server;
    server.Start(keys, kPort);
    LibsshDialer dialer(HostSocketFactory());
    auto conn = MustConnect(dialer, keys.Endpoint(kPort));
    if (!conn) return;
    std::string data(1 << 20, '\0');
    std::mt19937 rng(42);
    for (char& c : data) c = static_cast<char>(rng());
    auto r = conn->Exec({"cat"}, data, std::stop_token());
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->exit_code, 0);
    ASSERT_EQ(r->out.size(), data.size());
    EXPECT_TRUE(r->out == data);
    // A command that ignores its stdin still succeeds.
    auto ignore = conn->Exec({"true"}, data, std::stop_token());
    ASSERT_TRUE(ignore.ok()) << ignore.error().ToString();
    EXPECT_EQ(ignore->exit_code, 0);
  });
}

TEST(GuestSshTest, WrongHostKeyIsFailedPreconditionAndNotRetried) {
  WithKeys([](const SshTestKeys& keys) {
    DropbearServer server;
    server.Start(keys, kPort);
    LibsshDialer dialer(HostSocketFactory());
    GuestEndpoint ep = keys.Endpoint(kPort);
    ep.host_public_key = keys.other_host_public;
    // A generous deadline: returning FailedPrecondition instead of
    // DeadlineExceeded shows WaitForSsh did not keep retrying.
    auto conn = dialer.WaitForSsh(ep, steady_clock::now() + seconds(60), std::stop_token());
    ASSERT_FALSE(conn.ok());
    EXPECT_EQ(conn.error().code(), Code::kFailedPrecondition) << conn.error().ToString();
    std::string expected = keys.FingerprintOf(keys.other_host_public);
    std::string got = keys.FingerprintOf(keys.host_public);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(conn.error().message(),
              "host key mismatch for 127.0.0.1: expected " + expected + ", got " + got);

    // Counted after one dial, as libssh's crypto opens a file on first use.
    int fds_before = CountOpenFds();
    for (int i = 0; i < 3; ++i) {
      auto direct = dialer.Dial(ep, seconds(10));
      ASSERT_FALSE(direct.ok());
      EXPECT_EQ(direct.error().code(), Code::kFailedPrecondition) << direct.error().ToString();
    }
    EXPECT_EQ(CountOpenFds(), fds_before) << "sockets of refused sessions leaked";
  });
}

TEST(GuestSshTest, UnauthorizedClientKeyIsFailedPrecondition) {
  WithKeys([](const SshTestKeys& keys) {
    DropbearServer server;
    server.Start(keys, kPort);
    ASSERT_TRUE(RunForTest("rm /root/.ssh/authorized_keys"));
    LibsshDialer dialer(HostSocketFactory());
    auto conn = dialer.WaitForSsh(keys.Endpoint(kPort), steady_clock::now() + seconds(60),
                                  std::stop_token());
    ASSERT_FALSE(conn.ok());
    EXPECT_EQ(conn.error().code(), Code::kFailedPrecondition) << conn.error().ToString();
  });
}

TEST(GuestSshTest, DialWithNobodyListeningIsUnavailable) {
  WithKeys([](const SshTestKeys& keys) {
    LibsshDialer dialer(HostSocketFactory());
    auto conn = dialer.Dial(keys.Endpoint(kPort), seconds(2));
    ASSERT_FALSE(conn.ok());
    EXPECT_EQ(conn.error().code(), Code::kUnavailable) << conn.error().ToString();
  });
}

TEST(GuestSshTest, WaitForSshSucceedsOnceTheServerStarts) {
  WithKeys([](const SshTestKeys& keys) {
    DropbearServer server;
    std::thread starter([&] {
      std::this_thread::sleep_for(milliseconds(500));
      server.Start(keys, kPort);
    });
    LibsshDialer dialer(HostSocketFactory());
    auto conn = dialer.WaitForSsh(keys.Endpoint(kPort), steady_clock::now() + seconds(30),
                                  std::stop_token());
    starter.join();
    ASSERT_TRUE(conn.ok()) << conn.error().ToString();
    auto r = (*conn)->Exec({"echo", "up"}, "", std::stop_token());
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->out, "up\n");
  });
}

TEST(GuestSshTest, WaitForSshWithNobodyListeningHitsTheDeadline) {
  WithKeys([](const SshTestKeys& keys) {
    LibsshDialer dialer(HostSocketFactory());
    auto deadline = steady_clock::now() + milliseconds(300);
    auto conn = dialer.WaitForSsh(keys.Endpoint(kPort), deadline, std::stop_token());
    ASSERT_FALSE(conn.ok());
    EXPECT_EQ(conn.error().code(), Code::kDeadlineExceeded) << conn.error().ToString();
    EXPECT_GE(steady_clock::now(), deadline);
    EXPECT_NE(conn.error().message().find("refused"), std::string::npos)
        << "the last attempt's reason should be reported: " << conn.error().message();
  });
}

TEST(GuestSshTest, StopTokenCancelsWaitForSsh) {
  WithKeys([](const SshTestKeys& keys) {
    LibsshDialer dialer(HostSocketFactory());
    std::stop_source stop;
    std::thread stopper([&] {
      std::this_thread::sleep_for(milliseconds(200));
      stop.request_stop();
    });
    auto conn = dialer.WaitForSsh(keys.Endpoint(kPort), steady_clock::now() + seconds(60),
                                  stop.get_token());
    stopper.join();
    ASSERT_FALSE(conn.ok());
    EXPECT_EQ(conn.error().code(), Code::kCancelled) << conn.error().ToString();
  });
}

TEST(GuestSshTest, StopTokenCancelsExecAndTheConnectionStaysUsable) {
  WithKeys([](const SshTestKeys& keys) {
    DropbearServer server;
    server.Start(keys, kPort);
    LibsshDialer dialer(HostSocketFactory());
    auto conn = MustConnect(dialer, keys.Endpoint(kPort));
    if (!conn) return;
    std::stop_source stop;
    std::thread stopper([&] {
      std::this_thread::sleep_for(milliseconds(200));
      stop.request_stop();
    });
    auto r = conn->Exec({"sleep", "5"}, "", stop.get_token());
    stopper.join();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Code::kCancelled) << r.error().ToString();
    auto again = conn->Exec({"echo", "still"}, "", std::stop_token());
    ASSERT_TRUE(again.ok()) << again.error().ToString();
    EXPECT_EQ(again->out, "still\n");
  });
}

TEST(GuestSshTest, ExecWithEmptyArgvIsInvalidArgument) {
  WithKeys([](const SshTestKeys& keys) {
    DropbearServer server;
    server.Start(keys, kPort);
    LibsshDialer dialer(HostSocketFactory());
    auto conn = MustConnect(dialer, keys.Endpoint(kPort));
    if (!conn) return;
    auto r = conn->Exec({}, "", std::stop_token());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  });
}

TEST(GuestSshTest, DestroyedConnectionReleasesItsSocket) {
  WithKeys([](const SshTestKeys& keys) {
    DropbearServer server;
    server.Start(keys, kPort);
    LibsshDialer dialer(HostSocketFactory());
    MustConnect(dialer,
                keys.Endpoint(kPort));  // libssh's crypto opens a file on first use
    int fds_before = CountOpenFds();
    for (int i = 0; i < 3; ++i) {
      auto conn = MustConnect(dialer, keys.Endpoint(kPort));
      if (!conn) return;
      auto r = conn->Exec({"true"}, "", std::stop_token());
      EXPECT_TRUE(r.ok());
    }
    EXPECT_EQ(CountOpenFds(), fds_before) << "sockets of closed connections leaked";
  });
}

TEST(GuestSshTest, NetnsSocketFactoryReachesGuestsInsideTheNamespace) {
  IN_FRESH_NETNS([](const std::string& scratch) {
    SshTestKeys keys;
    if (!RunForTest("ip link set lo up") || !keys.Make(scratch)) return;
    auto ns = NetnsHandle::Create(scratch, "guests");
    ASSERT_TRUE(ns.ok()) << ns.error().ToString();
    std::string path = scratch + "/guests";
    ASSERT_TRUE(RunForTest("nsenter --net=" + path + " ip link set lo up"));
    DropbearServer server;
    server.Start(keys, kPort, path);

    LibsshDialer dialer(NetnsSocketFactory(*ns));
    auto conn = MustConnect(dialer, keys.Endpoint(kPort));
    if (!conn) return;
    auto r = conn->Exec({"echo", "inside"}, "", std::stop_token());
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->out, "inside\n");

    // The same address from the test's own namespace reaches nobody.
    LibsshDialer host_dialer(HostSocketFactory());
    auto outside = host_dialer.Dial(keys.Endpoint(kPort), seconds(2));
    ASSERT_FALSE(outside.ok());
    EXPECT_EQ(outside.error().code(), Code::kUnavailable) << outside.error().ToString();
    server.Stop();
    conn.reset();
    EXPECT_TRUE(NetnsHandle::Delete(scratch, "guests").ok());
  });
}

}  // namespace
}  // namespace warren

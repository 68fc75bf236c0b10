// SessionRegistry against dropbear in a private namespace: a detached session
// keeps running with nobody attached, a later attacher sees the earlier output
// (scrollback), two attachers see the same output, `send` reaches the command,
// kill and guest-down end it with a clear state.
#include "session/session_registry.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include "net/fresh_netns.h"
#include "session/dropbear_server.h"
#include "session/guest_socket.h"
#include "session/libssh_dialer.h"
#include "sys/test_util.h"

namespace warren {
namespace {

constexpr int kPort = 2222;

template <typename F>
void WithRegistry(F body, SessionOptions options = {}) {
  IN_FRESH_NETNS([&](const std::string& scratch) {
    if (!RunForTest("ip link set lo up")) {
      ADD_FAILURE() << "bringing lo up";
      return;
    }
    SshTestKeys keys;
    if (!keys.Make(scratch)) return;
    DropbearServer server;
    server.Start(keys, kPort);
    LibsshDialer dialer(HostSocketFactory());
    GuestEndpoint ep = keys.Endpoint(kPort);
    ASSERT_TRUE(dialer
                    .WaitForSsh(ep, std::chrono::steady_clock::now() + std::chrono::seconds(20),
                                std::stop_token())
                    .ok());
    SystemClock clock;
    SessionRegistry registry(
        &dialer, [&](const std::string&) -> Result<GuestEndpoint> { return ep; }, &clock,
        options);
    body(registry);
  });
}

ExecSpec Cmd(std::vector<std::string> argv) {
  ExecSpec s;
  s.argv = std::move(argv);
  return s;
}

// How long a test waits for output or an end before it fails (a broken
// session, not a timing check: each wait here takes milliseconds when it works).
constexpr std::chrono::seconds kWait{30};

// A stop token that fires at a deadline, so a blocked Next() returns and the
// test fails with a message instead of hanging.
class StopAfter {
 public:
  explicit StopAfter(std::chrono::seconds d)
      : timer_([this, d](std::stop_token cancelled) {
          std::mutex m;
          std::condition_variable_any cv;
          std::unique_lock<std::mutex> lock(m);
          cv.wait_for(lock, cancelled, d, [] { return false; });
          if (!cancelled.stop_requested()) source_.request_stop();
        }) {}
  std::stop_token token() const { return source_.get_token(); }
  bool expired() const { return source_.stop_requested(); }

 private:
  std::stop_source source_;
  std::jthread timer_;  // last: joined before source_ goes
};

// Reads from `a` until `want` has been seen or the session ends; fails the
// test after kWait.
std::string ReadUntil(Attachment& a, const std::string& want) {
  StopAfter deadline(kWait);
  std::string seen;
  while (seen.find(want) == std::string::npos) {
    if (deadline.expired()) {
      ADD_FAILURE() << "no \"" << want << "\" within " << kWait.count() << " s; saw "
                    << seen.size() << " bytes: " << seen.substr(0, 200);
      break;
    }
    Attachment::Chunk c = a.Next(deadline.token());
    seen += c.bytes;
    if (c.ended) break;
  }
  return seen;
}

// Reads from `a` until the session ends; fails the test after kWait.
std::string ReadToEnd(Attachment& a) {
  StopAfter deadline(kWait);
  std::string seen;
  while (true) {
    if (deadline.expired()) {
      ADD_FAILURE() << "the session did not end within " << kWait.count() << " s";
      break;
    }
    Attachment::Chunk c = a.Next(deadline.token());
    seen += c.bytes;
    if (c.ended) break;
  }
  return seen;
}

// Waits until the session left "running"; fails the test after kWait.
void WaitEnded(SessionRegistry& r, const std::string& id) {
  EXPECT_TRUE(PollUntil([&] { return r.Get(id)->state != "running"; }, kWait))
      << "session " << id << " still running after " << kWait.count() << " s";
}

TEST(SessionRegistryTest, ReattachSeesEarlierOutputAndSendReachesTheCommand) {
  WithRegistry([](SessionRegistry& r) {
    auto info = r.Start("vm1", "dev", Cmd({"sh", "-c", "echo started; while read l; do echo got:$l; done"}));
    ASSERT_TRUE(info.ok()) << info.error().ToString();
    EXPECT_EQ(info->state, "running");
    {
      auto first = r.Attach("dev", true);
      ASSERT_TRUE(first.ok());
      EXPECT_NE(ReadUntil(**first, "started").find("started"), std::string::npos);
    }  // detached: the command keeps running
    ASSERT_TRUE(r.Send(info->id, "hello\n").ok());
    auto a = r.Attach(info->id, true);
    auto b = r.Attach("dev", false);
    ASSERT_TRUE(a.ok() && b.ok());
    std::string seen_a = ReadUntil(**a, "got:hello");
    EXPECT_NE(seen_a.find("started"), std::string::npos) << "scrollback first: " << seen_a;
    ASSERT_TRUE((*a)->Write("from-a\n").ok());
    EXPECT_NE(ReadUntil(**a, "got:from-a").find("got:from-a"), std::string::npos);
    EXPECT_NE(ReadUntil(**b, "got:from-a").find("got:from-a"), std::string::npos);
    EXPECT_EQ(r.Get("dev")->attached, 2);
    auto dup = r.Start("vm1", "dev", Cmd({"true"}));
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().code(), Code::kAlreadyExists);

    auto killed = r.Kill("dev", "");
    ASSERT_TRUE(killed.ok());
    ReadToEnd(**a);
    EXPECT_EQ(r.Get("dev")->state, "killed");
    ASSERT_TRUE(r.Kill("dev", "").ok());  // an ended session is removed
    EXPECT_EQ(r.Get("dev").error().code(), Code::kNotFound);
  });
}

TEST(SessionRegistryTest, ExitCodeSurvivesAndGuestDownMarksSessionsLost) {
  WithRegistry([](SessionRegistry& r) {
    auto quick = r.Start("vm1", "", Cmd({"sh", "-c", "echo bye; exit 4"}));
    ASSERT_TRUE(quick.ok()) << quick.error().ToString();
    auto a = r.Attach(quick->id, true);
    ASSERT_TRUE(a.ok());
    EXPECT_NE(ReadUntil(**a, "never").find("bye"), std::string::npos);
    SessionInfo done = *r.Get(quick->id);
    EXPECT_EQ(done.state, "exited");
    EXPECT_EQ(done.exit_code, 4);
    EXPECT_EQ(*r.Scrollback(quick->id), "bye\n");

    auto slow = r.Start("vm1", "sleeper", Cmd({"sleep", "600"}));
    ASSERT_TRUE(slow.ok());
    auto b = r.Attach("sleeper", true);
    ASSERT_TRUE(b.ok());
    r.GuestDown("vm1", "VM vm1 is stopping");
    ReadToEnd(**b);
    SessionInfo lost = *r.Get("sleeper");
    EXPECT_EQ(lost.state, "lost");
    EXPECT_NE(lost.error.find("VM vm1 is stopping"), std::string::npos) << lost.error;
    EXPECT_EQ(r.List("vm1").size(), 2u);
    EXPECT_EQ(r.List("other").size(), 0u);
  });
}

TEST(SessionRegistryTest, SlowAttacherGetsADropMarkerNotUnboundedMemory) {
  WithRegistry([](SessionRegistry& r) {
    auto s = r.Start("vm1", "", Cmd({"sh", "-c", "head -c 8000000 /dev/zero; echo END"}));
    ASSERT_TRUE(s.ok());
    auto a = r.Attach(s->id, false);
    ASSERT_TRUE(a.ok());
    // Not reading until the session ended: its queue is capped.
    WaitEnded(r, s->id);
    std::string all = ReadToEnd(**a);
    EXPECT_LT(all.size(), 8000000u);
    EXPECT_NE(all.find("bytes of output dropped"), std::string::npos);
    EXPECT_LE(r.Scrollback(s->id)->size(), (size_t{5} << 20) / 4);  // trimmed in steps of 1/4
  });
}

}  // namespace
}  // namespace warren

namespace warren {
namespace {

// The observer the daemon publishes session events from: created, a change per
// attach and detach, ended, each with the session as session.ls shows it.
TEST(SessionRegistryTest, ObserverHearsCreatedAttachDetachAndEnded) {
  struct Seen {
    std::mutex mu;
    std::vector<std::pair<std::string, SessionInfo>> events;
    std::vector<std::string> Actions() {
      std::lock_guard<std::mutex> lock(mu);
      std::vector<std::string> out;
      for (auto& [a, i] : events) out.push_back(a + ":" + std::to_string(i.attached) + ":" + i.state);
      return out;
    }
  };
  auto seen = std::make_shared<Seen>();
  SessionOptions options;
  options.on_change = [seen](std::string_view action, const SessionInfo& info) {
    std::lock_guard<std::mutex> lock(seen->mu);
    seen->events.emplace_back(std::string(action), info);
  };
  WithRegistry(
      [&](SessionRegistry& r) {
        auto info = r.Start("vm1", "obs", Cmd({"sh", "-c", "read l; echo bye"}));
        ASSERT_TRUE(info.ok()) << info.error().ToString();
        {
          auto a = r.Attach("obs", false);
          ASSERT_TRUE(a.ok());
        }  // detached
        ASSERT_TRUE(r.Send(info->id, "go\n").ok());
        WaitEnded(r, info->id);
        EXPECT_TRUE(PollUntil([&] { return seen->Actions().size() >= 4; }, kWait));
        std::vector<std::string> want = {"created:0:running", "changed:1:running",
                                         "changed:0:running", "ended:0:exited"};
        EXPECT_EQ(seen->Actions(), want);
        std::lock_guard<std::mutex> lock(seen->mu);
        for (auto& [a, i] : seen->events) EXPECT_EQ(i.id, info->id);
      },
      options);
}

}  // namespace
}  // namespace warren

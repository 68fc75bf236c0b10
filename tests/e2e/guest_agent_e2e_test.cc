// The guest agent on a real guest: one cold-booted VM of the default image
// (minimal flavour, dropbear) under the daemon's isolated mode. The test
// drives the agent directly through ConnectGuestAgent on the VM's socket (the
// daemon-side records of a clone are the snapshot code's business) and checks
// the guest over SSH inside the daemon's namespace: the clock stepped an hour
// back and forth, then a new MAC, address, hostname and host key.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "e2e/daemon_harness.h"
#include "image/ssh_key.h"
#include "net/netns.h"
#include "session/guest_socket.h"
#include "session/libssh_dialer.h"
#include "sys/files.h"
#include "vm/guest_agent.h"

namespace warren::e2e {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr char kVm[] = "agent";
const std::string kConfig = "[network]\ntap_pool_size = 1\n";
// A loaded CI machine under TCG is slow.
constexpr milliseconds kAgentTimeout{30000};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t NowS() { return NowNs() / 1000000000; }

class GuestAgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new WarrenDaemon(kConfig);
    Result<json> vm = daemon_->StartWithVm(kVm);
    ASSERT_TRUE(vm.ok()) << vm.status().ToString();
    vm_ = new json(*vm);
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
    delete vm_;
    vm_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(vm_, nullptr); }

  // A connection to the VM's agent once it answers a ping. The agent starts
  // beside the SSH server and may not have opened its port yet when SSH
  // answers; a request sent meanwhile can be lost (or echoed by the console
  // before the agent sets it raw), so every host conversation starts with a
  // ping, retried on a fresh connection.
  static std::unique_ptr<GuestAgent> Agent() {
    std::filesystem::path socket =
        daemon_->root() / "run" / (vm_->value("id", "") + ".agent");
    const auto deadline = std::chrono::steady_clock::now() + kAgentTimeout;
    Status last = Internal("not tried");
    while (std::chrono::steady_clock::now() < deadline) {
      Result<std::unique_ptr<GuestAgent>> agent = ConnectGuestAgent(socket);
      if (!agent.ok()) {
        last = agent.error();
        break;
      }
      last = (*agent)->Ping(milliseconds(3000));
      if (last.ok()) return std::move(*agent);
    }
    ADD_FAILURE() << "the guest agent never answered a ping: " << last.ToString();
    return nullptr;
  }

  // Runs argv over SSH at `ip`, pinning `host_public_key`.
  static Result<GuestConnection::ExecResult> ExecAt(const std::string& ip,
                                                    const std::string& host_public_key,
                                                    const std::vector<std::string>& argv) {
    ASSIGN_OR_RETURN(std::string key, ReadFileToString(daemon_->root() / "state/ssh/id_ed25519"));
    ASSIGN_OR_RETURN(NetnsHandle ns, NetnsHandle::Open(kDefaultNetnsDir, daemon_->Netns()));
    LibsshDialer dialer(NetnsSocketFactory(ns));
    GuestEndpoint ep{ip, 22, "root", host_public_key, key};
    ASSIGN_OR_RETURN(std::unique_ptr<GuestConnection> conn,
                     dialer.Dial(ep, std::chrono::seconds(20)));
    return conn->Exec(argv, "", {});
  }

  static int64_t GuestUnixTime() {
    Result<GuestConnection::ExecResult> r = daemon_->GuestExec(kVm, {"date", "+%s"});
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? std::stoll(r->out) : 0;
  }

  static WarrenDaemon* daemon_;
  static json* vm_;
};
WarrenDaemon* GuestAgentE2eTest::daemon_ = nullptr;
json* GuestAgentE2eTest::vm_ = nullptr;

// An idle agent costs the guest nothing: once back from answering a ping,
// sampled five times over two seconds, it is always blocked in read(2)
// (syscall 0) on its port with no child process. An agent that polls the port
// (a `sleep` between reads) is caught in wait4 with a child.
TEST_F(GuestAgentE2eTest, IdleAgentSleepsInReadWithoutChildren) {
  // Once it has answered, the agent is past its start-up and idle.
  ASSERT_NE(Agent(), nullptr);
  const std::string script = R"sh(
agent=
for p in /proc/[0-9]*; do
  tr '\0' ' ' <$p/cmdline 2>/dev/null | grep -q 'warren/warren-agent' || continue
  read -r _ _ _ ppid _ <$p/stat
  [ "$ppid" = 1 ] && agent=${p#/proc/}
done
[ -n "$agent" ] || { echo "no agent process"; exit 1; }
# Back in its read after the ping (at nice 19 that can take a moment), within 20 s.
i=0
until [ "$(cut -d' ' -f1 /proc/$agent/syscall)" = 0 ] || [ $i -ge 100 ]; do
  sleep 0.2
  i=$((i + 1))
done
for i in 1 2 3 4 5; do
  read -r nr _ <"/proc/$agent/syscall"
  echo "syscall=$nr children=[$(cat /proc/$agent/task/$agent/children)]"
  sleep 0.4
done)sh";
  Result<GuestConnection::ExecResult> r = daemon_->GuestExec(kVm, {"sh", "-c", script});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->exit_code, 0) << r->out << r->err;
  std::string expect;
  for (int i = 0; i < 5; ++i) expect += "syscall=0 children=[]\n";
  EXPECT_EQ(r->out, expect);
}

TEST_F(GuestAgentE2eTest, AnswersPing) {
  std::unique_ptr<GuestAgent> agent = Agent();
  ASSERT_NE(agent, nullptr);
  Status st = agent->Ping(kAgentTimeout);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << daemon_->Log();
}

TEST_F(GuestAgentE2eTest, StepsTheClockAnHourBackAndForth) {
  std::unique_ptr<GuestAgent> agent = Agent();
  ASSERT_NE(agent, nullptr);
  constexpr int64_t kHour = 3600;
  int64_t before = NowS();
  ASSERT_TRUE(agent->SetClock(NowNs() - kHour * 1000000000, kAgentTimeout).ok());
  int64_t wrong = GuestUnixTime();
  int64_t after = NowS();
  // Bracketed by the host's clock read before and after (an hour back).
  EXPECT_GE(wrong, before - kHour - 1);
  EXPECT_LE(wrong, after - kHour + 1);

  before = NowS();
  ASSERT_TRUE(agent->SetClock(NowNs(), kAgentTimeout).ok());
  int64_t right = GuestUnixTime();
  after = NowS();
  EXPECT_GE(right, before - 1);
  EXPECT_LE(right, after + 1);
}

// Last: the VM answers at another address afterwards. The key goes in
// OpenSSH's format only, as from a daemon older than the dropbear field, so
// the agent converts it (clones, in snapshot_e2e_test, send both).
TEST_F(GuestAgentE2eTest, ZReidentifiesToANewAddressHostnameHostKeyAndMac) {
  const std::string old_ip = vm_->value("ip", "");
  const std::string prefix = old_ip.substr(0, old_ip.rfind('.'));
  Result<Ed25519Key> key = Ed25519Key::Generate("agent-e2e");
  ASSERT_TRUE(key.ok());
  GuestIdentity id;
  id.mac = {0x52, 0x54, 0x00, 0xa6, 0xe2, 0x01};
  id.ip_cidr = prefix + ".200/24";
  id.gateway = prefix + ".1";
  id.hostname = "agent-renamed";
  id.dns = prefix + ".1";
  id.host_key_private_openssh = key->OpensshPrivateFile();
  id.unix_time_ns = NowNs();
  id.random_seed_hex = std::string(64, 'c');

  std::unique_ptr<GuestAgent> agent = Agent();
  ASSERT_NE(agent, nullptr);
  Status st = agent->Reidentify(id, kAgentTimeout);
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Still answering on the same channel: it never depended on the address.
  ASSERT_TRUE(agent->Ping(kAgentTimeout).ok());

  // dropbear is respawned by init with the new key: retry until it listens.
  Result<GuestConnection::ExecResult> r = Internal("not tried");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  do {
    r = ExecAt(prefix + ".200", key->OpensshPublicLine(),
               {"sh", "-c",
                "hostname; cat /sys/class/net/eth0/address; busybox ip -4 addr show dev eth0; "
                "cat /etc/resolv.conf"});
  } while (!r.ok() && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_NE(r->out.find("agent-renamed\n"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("52:54:00:a6:e2:01\n"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find(prefix + ".200/24"), std::string::npos) << r->out;
  EXPECT_EQ(r->out.find(old_ip + "/"), std::string::npos) << "old address left: " << r->out;
  EXPECT_NE(r->out.find("nameserver " + prefix + ".1"), std::string::npos) << r->out;

  // The old host key is gone: pinning it fails at the new address.
  ASSERT_TRUE(ReadFileToString(daemon_->root() / "vms" / kVm / "host_key.pub").ok());
  std::string old_key = *ReadFileToString(daemon_->root() / "vms" / kVm / "host_key.pub");
  while (!old_key.empty() && (old_key.back() == '\n' || old_key.back() == ' ')) old_key.pop_back();
  EXPECT_FALSE(ExecAt(prefix + ".200", old_key, {"true"}).ok());
}

}  // namespace
}  // namespace warren::e2e

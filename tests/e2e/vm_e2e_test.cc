// VMs through the real daemon binary: real QEMU (TCG here), the daemon's own
// network namespace, the default image. Needs root, QEMU, mmdebstrap and the
// host's Debian mirror (the base tarball is cached in $WARREN_TEST_CACHE).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "base/clock.h"
#include "e2e/daemon_harness.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "net/egress.h"
#include "net/nftables.h"
#include "sys/files.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kPoolSize = 2;
const std::string kConfig = "[network]\ntap_pool_size = " + std::to_string(kPoolSize) + "\n";

LinkChange UpChange() {
  LinkChange up;
  up.up = true;
  return up;
}

// Creates a VM and waits until SSH is ready. Returns the VM's JSON.
json CreateVm(WarrenDaemon& d, const std::string& name, int memory_mib = 384) {
  Result<json> vm = d.CreateVm(name, memory_mib);
  EXPECT_TRUE(vm.ok()) << vm.status().ToString();
  return vm.ok() ? *vm : json::object();
}

// A process run in `ns` (fork, setns, exec), killed and reaped on destruction.
struct ChildInNetns {
  pid_t pid = -1;
  ChildInNetns(const NetnsHandle& ns, std::vector<std::string> argv) {
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const pid_t test_pid = ::getpid();
    pid = ::fork();
    if (pid == 0) {
      DieWithParentForTest(test_pid);
      if (::setns(ns.fd(), CLONE_NEWNET) != 0) _exit(126);
      ::execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~ChildInNetns() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    int status = 0;
    if (!WaitPidFor(pid, &status, std::chrono::seconds(30))) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
};

std::string Dig(WarrenDaemon& d, const std::string& name) {
  Result<json> status = d.Call("daemon.status");
  if (!status.ok()) return "status failed";
  std::string listen = (*status)["network"].value("dns_host_listen", "");
  size_t colon = listen.rfind(':');
  RunSpec spec;
  spec.argv = {"dig", "+short", "+time=2", "+tries=1", "@" + listen.substr(0, colon), "-p",
               listen.substr(colon + 1), name};
  RealRunner runner;
  Result<RunResult> r = runner.Run(spec);
  if (!r.ok()) return r.error().ToString();
  std::string out = r->out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Everything one VM owned is gone: record, files, QEMU, TAP (the pool's stock
// aside), DNS name.
void ExpectNothingLeftOf(WarrenDaemon& d, const std::string& name) {
  Result<json> vms = d.Call("vm.list");
  ASSERT_TRUE(vms.ok());
  for (const json& vm : (*vms)["vms"]) EXPECT_NE(vm.value("name", ""), name);
  EXPECT_FALSE(fs::exists(d.root() / "vms" / name)) << name;
  EXPECT_TRUE(d.QemuPids().empty());
  EXPECT_LE(d.Taps().size(), static_cast<size_t>(kPoolSize));
  EXPECT_EQ(Dig(d, name + ".warren.internal"), "");
}

class VmE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new WarrenDaemon(kConfig);
    Status st = daemon_->StartWithDefaultImage();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(daemon_, nullptr); }

  static WarrenDaemon* daemon_;
};
WarrenDaemon* VmE2eTest::daemon_ = nullptr;

TEST_F(VmE2eTest, CreateStopStartRemoveLeavesNothingBehind) {
  WarrenDaemon& d = *daemon_;
  const int64_t before_create = SystemClock().NowUnixMillis();
  json vm = CreateVm(d, "life");
  EXPECT_EQ(vm.value("state", ""), "running");
  const int64_t first_start = vm.value("started_ms", int64_t{0});
  EXPECT_GE(first_start, before_create) << vm.dump();
  // vm inspect prints the start time and the uptime.
  RunResult inspect = d.Cli({"vm", "inspect", "life"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("uptime"), std::string::npos) << inspect.out;
  Result<GuestConnection::ExecResult> host = d.GuestExec("life", {"hostname"});
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_EQ(host->out, "life\n");
  EXPECT_EQ(Dig(d, "life.warren.internal"), vm.value("ip", ""));

  // Running VMs are not removed without --force.
  Result<json> refused = d.Call("vm.rm", {{"name", "life"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--force"), std::string::npos);

  Result<json> stopped = d.Call("vm.stop", {{"name", "life"}});
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_EQ(stopped->value("state", ""), "stopped");
  EXPECT_EQ(stopped->value("started_ms", int64_t{-1}), 0);
  EXPECT_TRUE(d.QemuPids().empty());

  // A call that has to wait for the VM says whom it waits for: `vm rm` behind
  // the boot hears `vm.waiting`, then (the VM running) is refused.
  Result<json> started = Internal("not run");
  std::thread start([&] { started = d.Call("vm.start", {{"name", "life"}}); });
  bool starting = false;
  for (int i = 0; i < 1500 && !starting; ++i) {  // 30 s
    Result<json> now = d.Call("vm.inspect", {{"name", "life"}});
    starting = now.ok() && now->value("state", "") == "starting";
    if (!starting) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::vector<json> waiting;
  Result<json> rm_behind_start =
      d.Call("vm.rm", {{"name", "life"}}, [&](std::string_view method, const json& p) {
        if (method == "vm.waiting") waiting.push_back(p);
      });
  start.join();
  EXPECT_TRUE(starting);
  ASSERT_FALSE(waiting.empty());
  EXPECT_EQ(waiting.front().value("holder", ""), "vm.start");
  EXPECT_EQ(waiting.front().value("vm", ""), "life");
  ASSERT_FALSE(rm_behind_start.ok());
  EXPECT_NE(rm_behind_start.status().message().find("--force"), std::string::npos);
  ASSERT_TRUE(started.ok()) << started.status().ToString() << "\n" << d.Log();
  EXPECT_EQ(started->value("state", ""), "running");
  EXPECT_EQ(started->value("ip", ""), vm.value("ip", ""));  // the lease is kept
  EXPECT_GT(started->value("started_ms", int64_t{0}), first_start);  // a new boot, a new time
  Result<GuestConnection::ExecResult> again = d.GuestExec("life", {"cat", "/proc/uptime"});
  ASSERT_TRUE(again.ok()) << again.status().ToString();

  // The console log is kept per VM and streams over RPC.
  RunResult logs = d.Cli({"vm", "logs", "life"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  Result<std::string> serial = ReadFileToString(d.root() / "vms/life/serial.log");
  ASSERT_TRUE(serial.ok());
  EXPECT_FALSE(logs.out.empty());
  EXPECT_EQ(logs.out, *serial);

  // doctor: the daemon's own checks (namespace + bridge, TAP pool, both DNS
  // listeners answering a query, no leftovers, the web listener, the memory
  // budget's headroom, KSM's state) all pass.
  Result<json> health = d.Call("daemon.health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ((*health)["checks"].size(), 8u) << health->dump(2);
  EXPECT_EQ((*health)["checks"].back().value("name", ""), "ksm") << health->dump(2);
  for (const json& c : (*health)["checks"]) EXPECT_EQ(c.value("level", ""), "PASS") << c.dump();

  Result<json> removed = d.Call("vm.rm", {{"name", "life"}, {"force", true}});
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  ExpectNothingLeftOf(d, "life");
}

TEST_F(VmE2eTest, FiveConcurrentCreatesGetDistinctIpsAndReachEachOtherByName) {
  WarrenDaemon& d = *daemon_;
  const std::vector<std::string> names = {"c0", "c1", "c2", "c3", "c4"};
  std::vector<json> vms(names.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < names.size(); ++i) {
    threads.emplace_back([&, i] { vms[i] = CreateVm(d, names[i], 256); });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> ips;
  for (const json& vm : vms) {
    EXPECT_EQ(vm.value("state", ""), "running");
    ips.insert(vm.value("ip", ""));
  }
  EXPECT_EQ(ips.size(), names.size());
  // From c0, every other VM answers ping by its short name (the seed gives the
  // guests the daemon's DNS and the search domain).
  for (size_t i = 1; i < names.size(); ++i) {
    Result<GuestConnection::ExecResult> ping =
        d.GuestExec("c0", {"ping", "-c", "1", "-W", "5", names[i]});
    ASSERT_TRUE(ping.ok()) << ping.status().ToString();
    EXPECT_EQ(ping->exit_code, 0) << ping->out << ping->err;
    EXPECT_NE(ping->out.find(vms[i].value("ip", "")), std::string::npos) << ping->out;
  }
  for (const std::string& n : names) {
    ASSERT_TRUE(d.Call("vm.rm", {{"name", n}, {"force", true}}).ok());
  }
  // Deleting a VM makes its name NXDOMAIN at once, for guests and host.
  for (const std::string& n : names) ExpectNothingLeftOf(d, n);
}

TEST_F(VmE2eTest, SameNameRaceHasExactlyOneWinner) {
  WarrenDaemon& d = *daemon_;
  std::vector<Result<json>> results(2, Internal("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      results[i] = d.Call("vm.create", {{"name", "twin"}, {"image", "default"}});
    });
  }
  for (auto& t : threads) t.join();
  int won = 0;
  std::string op;
  for (const auto& r : results) {
    if (r.ok()) {
      ++won;
      op = r->value("op", "");
    } else {
      EXPECT_EQ(r.status().code(), Code::kAlreadyExists) << r.status().ToString();
    }
  }
  ASSERT_EQ(won, 1);
  ASSERT_TRUE(d.WaitOp(op).ok());
  Result<json> vms = d.Call("vm.list");
  ASSERT_TRUE(vms.ok());
  EXPECT_EQ((*vms)["vms"].size(), 1u);
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "twin"}, {"force", true}}).ok());
  ExpectNothingLeftOf(d, "twin");
}

TEST_F(VmE2eTest, PromoteThenCreateFromThePromotedImageSeesTheChange) {
  WarrenDaemon& d = *daemon_;
  CreateVm(d, "golden");
  Result<GuestConnection::ExecResult> wrote = d.GuestExec(
      "golden", {"sh", "-c", "echo baked-in > /etc/warren-promoted && sync"});
  ASSERT_TRUE(wrote.ok() && wrote->exit_code == 0);

  // A running VM's disk is not promoted.
  Result<json> refused = d.Call("image.promote", {{"vm", "golden"}, {"name", "golden-img"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);

  ASSERT_TRUE(d.Call("vm.stop", {{"name", "golden"}}).ok());
  Result<json> image = d.Call("image.promote", {{"vm", "golden"}, {"name", "golden-img"}});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->at("manifest").at("source").value("type", ""), "promoted");
  EXPECT_FALSE(fs::exists(d.root() / "vms/golden/promote.raw"));

  Result<json> r = d.Call("vm.create", {{"name", "child"}, {"image", "golden-img"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(d.WaitOp(r->value("op", "")).ok()) << d.Log();
  Result<GuestConnection::ExecResult> read = d.GuestExec("child", {"cat", "/etc/warren-promoted"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->out, "baked-in\n");

  // In use by `child`: the image stays until its VMs are gone.
  EXPECT_FALSE(d.Call("image.rm", {{"name", "golden-img"}}).ok());
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "child"}, {"force", true}}).ok());
  ASSERT_TRUE(d.Call("vm.rm", {{"name", "golden"}, {"force", true}}).ok());
  EXPECT_TRUE(d.Call("image.rm", {{"name", "golden-img"}}).ok());
}

// `host` mode: the bridge in the daemon's own namespace — here a namespace made
// for this test, never the machine's. Guests still get leases, DNS names and
// SSH, and the daemon's checks pass there.
TEST(VmHostModeE2eTest, BridgeInTheDaemonsNamespaceAndGuestsResolveEachOther) {
  WarrenDaemon builder;
  WarrenDaemon d(kConfig + "mode = \"host\"\n");  // kConfig ends inside [network]
  ASSERT_TRUE(d.Start({}, /*own_netns=*/true).ok()) << d.Log();
  Result<json> status = d.Call("daemon.status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["network"].value("mode", ""), "host");
  EXPECT_TRUE(d.Netns().empty());
  ASSERT_TRUE(RegisterDefaultBuiltBy(builder, d).ok());
  json a = CreateVm(d, "ha");
  json b = CreateVm(d, "hb");
  ASSERT_EQ(a.value("state", ""), "running");
  ASSERT_EQ(b.value("state", ""), "running");
  Result<GuestConnection::ExecResult> ping =
      d.GuestExec("ha", {"ping", "-c", "1", "-W", "5", "hb"});
  ASSERT_TRUE(ping.ok()) << ping.status().ToString();
  EXPECT_EQ(ping->exit_code, 0) << ping->out << ping->err;
  EXPECT_NE(ping->out.find(b.value("ip", "")), std::string::npos);
  EXPECT_EQ(d.Taps().size(), kPoolSize + 2u);
  Result<json> health = d.Call("daemon.health");
  ASSERT_TRUE(health.ok());
  for (const json& c : (*health)["checks"]) EXPECT_EQ(c.value("level", ""), "PASS") << c.dump();
}

// `nat` mode: a veth from the VM namespace to the daemon's (here a namespace
// made for this test) and masquerade there. Beyond the daemon's namespace the
// test puts `outer` (192.0.2.0/24), which has no route to the guest subnet: a
// guest reaches it only through the masquerade, and `outer` sees the daemon's
// address, never the guest's. Names outside the VM zone go to the configured
// upstream, a dnsmasq in `outer`. A stopped daemon leaves no uplink behind.
TEST(VmNatModeE2eTest, GuestsReachBeyondTheHostMasqueradedAndCloseRemovesTheUplink) {
  WarrenDaemon builder;
  WarrenDaemon d(kConfig + "mode = \"nat\"\n[dns]\nupstreams = \"192.0.2.2\"\n");
  ASSERT_TRUE(d.Start({}, /*own_netns=*/true).ok()) << d.Log();
  Result<NetnsHandle> daemon_ns =
      NetnsHandle::Open("/proc/" + std::to_string(d.pid()) + "/ns", "net");
  ASSERT_TRUE(daemon_ns.ok()) << daemon_ns.status().ToString();
  const std::string outer_name = "warren-e2e-outer-" + std::to_string(::getpid());
  Result<NetnsHandle> outer = NetnsHandle::Create(kDefaultNetnsDir, outer_name);
  ASSERT_TRUE(outer.ok()) << outer.status().ToString();
  struct DeleteOuter {
    std::string name;
    ~DeleteOuter() { (void)NetnsHandle::Delete(kDefaultNetnsDir, name); }
  } delete_outer{outer_name};
  auto wire = [](Netlink& nl, const std::string& cidr) -> Status {
    ASSIGN_OR_RETURN(LinkInfo link, nl.GetLink("out0"));
    RETURN_IF_ERROR(nl.AddAddress(link.index, cidr));
    RETURN_IF_ERROR(nl.SetLink("lo", UpChange()));
    return nl.SetLink("out0", UpChange());
  };
  Status wired = RunInNetns(daemon_ns->fd(), [&]() -> Status {
    ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
    RETURN_IF_ERROR(nl.AddVethPair("out0", "out0", outer->fd()));
    return wire(nl, "192.0.2.1/24");
  });
  ASSERT_TRUE(wired.ok()) << wired.ToString();
  Result<Netlink> outer_nl = Netlink::OpenIn(*outer);
  ASSERT_TRUE(outer_nl.ok());
  ASSERT_TRUE(wire(*outer_nl, "192.0.2.2/24").ok());

  ChildInNetns upstream(*outer, {"dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                                  "--no-resolv", "--no-hosts", "--pid-file=", "--bind-interfaces",
                                  "--listen-address=192.0.2.2", "--user=nobody",
                                  "--address=/outside.test/192.0.2.77"});
  ASSERT_GT(upstream.pid, 0);

  ASSERT_TRUE(RegisterDefaultBuiltBy(builder, d).ok());
  Result<json> status = d.Call("daemon.status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["network"].value("mode", ""), "nat");
  EXPECT_NE((*status)["network"].value("uplink", ""), "");
  json vm = CreateVm(d, "na");
  ASSERT_EQ(vm.value("state", ""), "running");

  Result<GuestConnection::ExecResult> ping =
      d.GuestExec("na", {"ping", "-c", "1", "-W", "5", "192.0.2.2"});
  ASSERT_TRUE(ping.ok()) << ping.status().ToString();
  EXPECT_EQ(ping->exit_code, 0) << ping->out << ping->err;

  Result<GuestConnection::ExecResult> lookup =
      d.GuestExec("na", {"nslookup", "-type=a", "www.outside.test"});
  ASSERT_TRUE(lookup.ok()) << lookup.status().ToString();
  EXPECT_EQ(lookup->exit_code, 0) << lookup->out << lookup->err;
  EXPECT_NE(lookup->out.find("192.0.2.77"), std::string::npos) << lookup->out;

  // A TCP connection from the guest to `outer`: its peer address is the
  // daemon namespace's, not the guest's.
  Result<UniqueFd> listener = OpenSocketIn(*outer, AF_INET, SOCK_STREAM, 0);
  ASSERT_TRUE(listener.ok());
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(8080);
  ::inet_pton(AF_INET, "192.0.2.2", &at.sin_addr);
  ASSERT_EQ(::bind(listener->get(), reinterpret_cast<sockaddr*>(&at), sizeof(at)), 0);
  ASSERT_EQ(::listen(listener->get(), 4), 0);
  // Every wait is bounded (nc -w, poll, SO_RCVTIMEO) so the guest thread is
  // joined before any assertion can end the test.
  Result<GuestConnection::ExecResult> sent = Internal("not run");
  std::thread guest([&] {
    sent = d.GuestExec("na", {"sh", "-c", "echo hello-from-guest | nc -w 5 192.0.2.2 8080"});
  });
  std::string peer_ip, got;
  pollfd p{listener->get(), POLLIN, 0};
  if (::poll(&p, 1, 30000) == 1) {
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    UniqueFd conn(::accept(listener->get(), reinterpret_cast<sockaddr*>(&peer), &len));
    char text[INET_ADDRSTRLEN] = "";
    ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
    peer_ip = text;
    timeval limit{10, 0};
    ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    char buf[64];
    for (ssize_t n; got.find('\n') == std::string::npos &&
                    (n = ::read(conn.get(), buf, sizeof(buf))) > 0;) {
      got.append(buf, static_cast<size_t>(n));
    }
  }
  guest.join();
  EXPECT_EQ(peer_ip, "192.0.2.1") << "no connection from the guest, or not masqueraded";
  EXPECT_EQ(got, "hello-from-guest\n");
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();

  Result<json> health = d.Call("daemon.health");
  ASSERT_TRUE(health.ok());
  bool saw_uplink = false;
  for (const json& c : (*health)["checks"]) {
    EXPECT_EQ(c.value("level", ""), "PASS") << c.dump();
    saw_uplink |= c.value("name", "") == "vm uplink";
  }
  EXPECT_TRUE(saw_uplink) << health->dump();

  // A host firewall whose forward chain drops by default (as docker's does)
  // stops guest egress whatever warren's table says: health warns with a fix.
  ASSERT_TRUE(RunInNetns(daemon_ns->fd(), [] {
                return RunNft("table ip filter { chain FORWARD { type filter hook forward "
                              "priority filter; policy drop; }; }\n");
              }).ok());
  ping = d.GuestExec("na", {"ping", "-c", "1", "-W", "2", "192.0.2.2"});
  ASSERT_TRUE(ping.ok());
  EXPECT_NE(ping->exit_code, 0);
  health = d.Call("daemon.health");
  ASSERT_TRUE(health.ok());
  for (const json& c : (*health)["checks"]) {
    if (c.value("name", "") != "vm uplink") continue;
    EXPECT_EQ(c.value("level", ""), "WARN") << c.dump();
    EXPECT_NE(c.value("found", "").find("table ip filter, chain FORWARD"), std::string::npos);
    EXPECT_NE(c.value("fix", "").find("iptables -I FORWARD -s 10.77.0.0/24"), std::string::npos)
        << c.dump();
  }
  ASSERT_TRUE(RunInNetns(daemon_ns->fd(), [] { return RunNft("delete table ip filter\n"); }).ok());

  ASSERT_TRUE(d.Call("vm.rm", {{"name", "na"}, {"force", true}}).ok());
  ASSERT_EQ(d.Stop(), 0) << d.Log();
  Result<std::vector<LinkInfo>> links = RunInNetns(daemon_ns->fd(), [] {
    Result<Netlink> nl = Netlink::OpenHere();
    return nl.ok() ? nl->ListLinks() : Result<std::vector<LinkInfo>>(nl.status());
  });
  ASSERT_TRUE(links.ok());
  for (const LinkInfo& l : *links) EXPECT_NE(l.name.rfind("wn-", 0), 0u) << l.name;
  Result<std::string> tables = RunInNetns(daemon_ns->fd(), [] { return RunNft("list tables\n"); });
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  EXPECT_EQ(tables->find("warren_"), std::string::npos) << *tables;
}

// A daemon SIGKILLed right after each create step is recorded leaves, once
// restarted, no VM record, disk, seed, QEMU, TAP or lease: the same name and
// address are free again. A VM that was running survives daemon restarts and
// is re-adopted; one whose QEMU died meanwhile is shown stopped.
TEST(VmCrashE2eTest, KillAtEachCreateStepThenRestartLeavesNothing) {
  WarrenDaemon d(kConfig);
  ASSERT_TRUE(d.Start().ok());
  ASSERT_TRUE(d.BuildDefaultImage().ok());
  json keeper = CreateVm(d, "keeper");
  ASSERT_EQ(keeper.value("state", ""), "running");
  // Its start time is stored: an adopted VM keeps it, so uptime stays exact.
  const int64_t keeper_started = keeper.value("started_ms", int64_t{0});
  EXPECT_GT(keeper_started, 0) << keeper.dump();

  for (const std::string step : {"reserved", "disk", "seed", "tap", "launch"}) {
    SCOPED_TRACE("killed at " + step);
    ASSERT_EQ(d.Stop(), 0);
    ASSERT_TRUE(d.Start({"WARREN_TEST_KILL_AT_STEP=" + step}).ok());
    (void)d.Call("vm.create", {{"name", "doomed"}, {"image", "default"}});
    EXPECT_EQ(d.WaitExit(), -SIGKILL) << d.Log();
    ASSERT_TRUE(d.Start().ok()) << d.Log();
    Result<json> vms = d.Call("vm.list");
    ASSERT_TRUE(vms.ok());
    ASSERT_EQ((*vms)["vms"].size(), 1u) << vms->dump();
    EXPECT_EQ((*vms)["vms"][0].value("name", ""), "keeper");
    EXPECT_EQ((*vms)["vms"][0].value("state", ""), "running");
    EXPECT_EQ((*vms)["vms"][0].value("started_ms", int64_t{0}), keeper_started);
    EXPECT_FALSE(fs::exists(d.root() / "vms/doomed"));
    EXPECT_EQ(d.QemuPids().size(), 1u);             // keeper's
    EXPECT_LE(d.Taps().size(), kPoolSize + 1u);     // the pool's + keeper's
    EXPECT_EQ(Dig(d, "doomed.warren.internal"), "");
  }
  // The keeper was re-adopted every time and still answers.
  Result<GuestConnection::ExecResult> up = d.GuestExec("keeper", {"true"});
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->exit_code, 0);
  // The freed name and address are taken again by the next create.
  json again = CreateVm(d, "doomed");
  EXPECT_EQ(again.value("state", ""), "running");

  // QEMU dies while the daemon is down → shown stopped after restart.
  ASSERT_EQ(d.Stop(), 0);
  std::vector<pid_t> qemus = d.QemuPids();
  ASSERT_EQ(qemus.size(), 2u);
  for (pid_t p : qemus) ::kill(p, SIGKILL);
  ASSERT_TRUE(PollUntil([&] { return d.QemuPids().empty(); }, std::chrono::seconds(30)))
      << "SIGKILLed QEMUs still running after 30 s";
  ASSERT_TRUE(d.Start().ok());
  Result<json> vms = d.Call("vm.list");
  ASSERT_TRUE(vms.ok());
  for (const json& vm : (*vms)["vms"]) {
    EXPECT_EQ(vm.value("state", ""), "stopped") << vm.dump();
    EXPECT_EQ(vm.value("started_ms", int64_t{-1}), 0) << vm.dump();
  }
  EXPECT_LE(d.Taps().size(), static_cast<size_t>(kPoolSize));
}


// nat mode with a peer namespace holding two ranges (192.0.2.0/24 and
// 198.51.100.0/24) behind the daemon's, and a DNS upstream in it, for egress.
struct EgressNet {
  WarrenDaemon builder;
  WarrenDaemon d{kConfig + "mode = \"nat\"\n[dns]\nupstreams = \"192.0.2.2\"\n"};
  std::string outer_name = "warren-e2e-egress-" + std::to_string(::getpid());
  std::unique_ptr<ChildInNetns> upstream;
  std::optional<NetnsHandle> outer;
  std::optional<NetnsHandle> vm_ns;

  ~EgressNet() {
    upstream.reset();
    (void)NetnsHandle::Delete(kDefaultNetnsDir, outer_name);
  }
  void SetUp() {
    ASSERT_TRUE(d.Start({}, /*own_netns=*/true).ok()) << d.Log();
    Result<NetnsHandle> created = NetnsHandle::Create(kDefaultNetnsDir, outer_name);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    outer.emplace(std::move(*created));
    Status wired = WireOuter();
    ASSERT_TRUE(wired.ok()) << wired.ToString();
    upstream = std::make_unique<ChildInNetns>(
        *outer, std::vector<std::string>{
                    "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                    "--no-hosts", "--pid-file=", "--bind-interfaces",
                    "--listen-address=192.0.2.2", "--user=nobody",
                    "--address=/outside.test/192.0.2.77"});
    ASSERT_GT(upstream->pid, 0);
    ASSERT_TRUE(RegisterDefaultBuiltBy(builder, d).ok());
    Result<NetnsHandle> ns = NetnsHandle::Open(kDefaultNetnsDir, d.Netns());
    ASSERT_TRUE(ns.ok()) << ns.status().ToString();
    vm_ns.emplace(std::move(*ns));
  }
  // A veth out0 from the daemon's namespace to `outer`, both ranges on it.
  // Again after a daemon restart: the harness starts it in a fresh namespace,
  // while the old one lives on (the adopted QEMUs were started in it), so the
  // old pair is deleted first.
  Status WireOuter() {
    ASSIGN_OR_RETURN(NetnsHandle daemon_ns,
                     NetnsHandle::Open("/proc/" + std::to_string(d.pid()) + "/ns", "net"));
    ASSIGN_OR_RETURN(Netlink outer_nl, Netlink::OpenIn(*outer));
    if (outer_nl.GetLink("out0").ok()) RETURN_IF_ERROR(outer_nl.DeleteLink("out0"));
    auto wire = [](Netlink& nl, const std::vector<std::string>& cidrs) -> Status {
      ASSIGN_OR_RETURN(LinkInfo link, nl.GetLink("out0"));
      for (const std::string& cidr : cidrs) RETURN_IF_ERROR(nl.AddAddress(link.index, cidr));
      RETURN_IF_ERROR(nl.SetLink("lo", UpChange()));
      return nl.SetLink("out0", UpChange());
    };
    RETURN_IF_ERROR(RunInNetns(daemon_ns.fd(), [&]() -> Status {
      ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
      RETURN_IF_ERROR(nl.AddVethPair("out0", "out0", outer->fd()));
      return wire(nl, {"192.0.2.1/24", "198.51.100.1/24"});
    }));
    return wire(outer_nl, {"192.0.2.2/24", "198.51.100.2/24"});
  }
  std::string Ruleset() {
    Result<std::string> r = RunInNetns(vm_ns->fd(), [] { return RunNft("list ruleset\n"); });
    return r.ok() ? *r : "error: " + r.status().ToString();
  }
  bool Reaches(const std::string& vm, const char* ip) {
    Result<GuestConnection::ExecResult> ping =
        d.GuestExec(vm, {"ping", "-c", "1", "-W", "3", ip});
    EXPECT_TRUE(ping.ok()) << ping.status().ToString();
    return ping.ok() && ping->exit_code == 0;
  }
  bool Resolves(const std::string& vm) {
    Result<GuestConnection::ExecResult> lookup =
        d.GuestExec(vm, {"nslookup", "-type=a", "www.outside.test"});
    EXPECT_TRUE(lookup.ok()) << lookup.status().ToString();
    return lookup.ok() && lookup->out.find("192.0.2.77") != std::string::npos;
  }
};

// The rules of net/egress.h on a real guest, applied as the capability does:
// none blocks but DNS answers, a range allows only itself and a changed
// address does not escape it, removal allows everything again.
TEST(VmNatModeE2eTest, EgressRulesOnARealGuest) {
  EgressNet n;
  ASSERT_NO_FATAL_FAILURE(n.SetUp());
  json vm = CreateVm(n.d, "eg");
  ASSERT_EQ(vm.value("state", ""), "running");
  Result<json> inspect = n.d.Call("vm.inspect", {{"name", "eg"}});
  ASSERT_TRUE(inspect.ok());
  EgressTarget target{inspect->value("id", ""), inspect->value("tap", ""),
                      inspect->value("ip", ""), "wbr0", "10.77.0.1"};
  auto apply = [&](const std::string& script) {
    Result<std::string> r = RunInNetns(n.vm_ns->fd(), [&] { return RunNft(script); });
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  };
  EXPECT_TRUE(n.Reaches("eg", "192.0.2.2"));
  EXPECT_TRUE(n.Reaches("eg", "198.51.100.2"));

  apply(EgressInstallScript(target, *ParseEgressSpec("none")));
  EXPECT_FALSE(n.Reaches("eg", "192.0.2.2"));
  EXPECT_FALSE(n.Reaches("eg", "198.51.100.2"));
  EXPECT_TRUE(n.Resolves("eg"));
  // The daemon's own SSH to the guest still works (GuestExec above): replies.

  apply(EgressInstallScript(target, *ParseEgressSpec("198.51.100.0/24")));
  EXPECT_FALSE(n.Reaches("eg", "192.0.2.2"));
  EXPECT_TRUE(n.Reaches("eg", "198.51.100.2"));

  apply(EgressRemoveScript(target.vm_id));
  EXPECT_TRUE(n.Reaches("eg", "192.0.2.2"));
  EXPECT_EQ(n.Ruleset().find("warren_egress_"), std::string::npos) << n.Ruleset();
}


// The capability end to end: created with egress none (rules from the first
// boot), changed on the running guest with `warren vm egress`, shown by
// inspect; `vm rm` leaves no rule.
TEST(VmNatModeE2eTest, EgressCapabilityCreateChangeAndRmLeavesNoRule) {
  EgressNet n;
  ASSERT_NO_FATAL_FAILURE(n.SetUp());
  Result<json> created = n.d.Call("vm.create", {{"name", "eg"}, {"image", "default"},
                                                {"memory_mib", 384},
                                                {"caps", {{"egress", "none"}}}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_TRUE(n.d.WaitOp(created->value("op", "")).ok()) << n.d.Log();
  Result<json> inspect = n.d.Call("vm.inspect", {{"name", "eg"}});
  ASSERT_TRUE(inspect.ok());
  EXPECT_EQ((*inspect)["caps"].value("egress", ""), "none") << inspect->dump();
  EXPECT_NE(n.Ruleset().find("warren_egress_"), std::string::npos) << n.Ruleset();
  EXPECT_FALSE(n.Reaches("eg", "192.0.2.2"));
  EXPECT_TRUE(n.Resolves("eg"));
  auto set_egress = [&](const std::string& spec) {
    RunResult r = n.d.Cli({"vm", "egress", "eg", spec});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  };
  set_egress("198.51.100.0/24");
  EXPECT_FALSE(n.Reaches("eg", "192.0.2.2"));
  EXPECT_TRUE(n.Reaches("eg", "198.51.100.2"));
  set_egress("all");
  EXPECT_TRUE(n.Reaches("eg", "192.0.2.2"));
  EXPECT_EQ(n.Ruleset().find("warren_egress_"), std::string::npos) << n.Ruleset();
  set_egress("none");
  EXPECT_FALSE(n.Reaches("eg", "198.51.100.2"));

  // The setting survives a daemon restart (the guest keeps running, the new
  // daemon adopts it): still enforced, still shown, still changeable.
  ASSERT_EQ(n.d.Stop(), 0) << n.d.Log();
  ASSERT_TRUE(n.d.Start({}, /*own_netns=*/true).ok()) << n.d.Log();
  Status rewired = n.WireOuter();
  ASSERT_TRUE(rewired.ok()) << rewired.ToString();
  inspect = n.d.Call("vm.inspect", {{"name", "eg"}});
  ASSERT_TRUE(inspect.ok());
  EXPECT_EQ((*inspect)["caps"].value("egress", ""), "none") << inspect->dump();
  EXPECT_NE(n.Ruleset().find("warren_egress_"), std::string::npos) << n.Ruleset();
  EXPECT_FALSE(n.Reaches("eg", "198.51.100.2"));
  set_egress("198.51.100.0/24");
  EXPECT_TRUE(n.Reaches("eg", "198.51.100.2")) << "the new daemon's uplink carries the allowed range";
  EXPECT_FALSE(n.Reaches("eg", "192.0.2.2"));
  RunResult rm = n.d.Cli({"vm", "rm", "--force", "eg"});
  EXPECT_EQ(rm.exit_code, 0) << rm.out << rm.err;
  EXPECT_EQ(n.Ruleset().find("warren_egress_"), std::string::npos) << n.Ruleset();
}

}  // namespace
}  // namespace warren::e2e

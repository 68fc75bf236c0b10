// `publish` end to end: a real guest in isolated mode (the host has no route
// to it) serving HTTP with busybox httpd and UDP with a perl echo, reached from
// the daemon's namespace through the published ports; OpenSSH's client logs in
// with a second key (`ssh_key`) through a published port 22, checking the
// VM's pinned host key; the ports survive a VM restart and a daemon restart, a
// taken host port is refused naming its VM, and `vm rm` leaves no listener.
// The daemon runs in a namespace made for the test; curl, the UDP client and
// ssh run there too (nsenter), so nothing touches the machine's own network.
#include <gtest/gtest.h>

#include <filesystem>

#include "e2e/daemon_harness.h"
#include "e2e/netns_clients.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kConfig = "[network]\ntap_pool_size = 2\n";

// A UDP echo in the guest (busybox's nc has no UDP; perl-base is in every
// Debian root): answers each datagram with "echo:" and its text.
Status StartUdpEcho(WarrenDaemon& d, const std::string& vm, int port) {
  const std::string echo =
      "perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => " +
      std::to_string(port) +
      ", Proto => \"udp\") or die $!; "
      "while (1) { $p = $s->recv($m, 2048); $s->send(\"echo:$m\", 0, $p) if defined $p }'";
  Result<GuestConnection::ExecResult> r =
      d.GuestExec(vm, {"sh", "-c", echo + " </dev/null >/dev/null 2>&1 &"});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return Internal("udp echo: " + r->err);
  return Status::Ok();
}

Status StartHttpd(WarrenDaemon& d, const std::string& vm) {
  Result<GuestConnection::ExecResult> r = d.GuestExec(
      vm, {"sh", "-c",
           "mkdir -p /tmp/www && echo hello-from-" + vm +
               " > /tmp/www/index.html && busybox httpd -p 8000 -h /tmp/www"});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return Internal("httpd: " + r->err);
  return Status::Ok();
}

Status Create(WarrenDaemon& d, const std::string& name, const json& caps) {
  ASSIGN_OR_RETURN(json started, d.Call("vm.create", {{"name", name},
                                                     {"image", "default"},
                                                     {"memory_mib", 384},
                                                     {"caps", caps}}));
  return d.WaitOp(started.value("op", ""));
}

// The ports' `vm.ports` rows by spec.
json PortBySpec(const json& ports, const std::string& spec) {
  for (const json& p : ports["ports"]) {
    if (p.value("spec", "") == spec) return p;
  }
  return json::object();
}

TEST(PublishE2eTest, CurlUdpAndSshReachAnIsolatedGuestAcrossRestartsAndRmLeavesNoListener) {
  WarrenDaemon builder;
  WarrenDaemon d(kConfig);
  ASSERT_TRUE(d.Start({}, /*own_netns=*/true).ok()) << d.Log();
  ASSERT_TRUE(RegisterDefaultBuiltBy(builder, d).ok());
  TempDir client;
  Result<SshClientFiles> ssh = MakeSshKey(client.path(), "second@test");
  ASSERT_TRUE(ssh.ok()) << ssh.status().ToString();
  const json caps = {{"publish", {"18080:8000", "18053:9000/udp", "12222:22"}},
                     {"ssh_key", {ssh->public_key}}};
  ASSERT_TRUE(Create(d, "web", caps).ok()) << d.Log();
  ASSERT_TRUE(StartHttpd(d, "web").ok());
  EXPECT_EQ(CurlIn(d.pid(), 18080), "hello-from-web\n");
  ASSERT_TRUE(StartUdpEcho(d, "web", 9000).ok());
  EXPECT_EQ(UdpEchoIn(d.pid(), 18053, "ping"), "echo:ping");

  // The second key logs in with OpenSSH through the published port 22, which
  // must present the host key warren pinned for this VM.
  ASSERT_TRUE(PinHostKey(*ssh, d.root() / "vms/web/host_key.pub", 12222).ok());
  EXPECT_EQ(SshIn(d.pid(), 12222, *ssh, "echo hello-over-ssh; id -u"), "hello-over-ssh\n0\n");

  Result<json> ports = d.Call("vm.ports", {{"name", "web"}});
  ASSERT_TRUE(ports.ok()) << ports.status().ToString();
  for (const std::string spec :
       {"127.0.0.1:18080:8000/tcp", "127.0.0.1:18053:9000/udp", "127.0.0.1:12222:22/tcp"}) {
    EXPECT_TRUE(PortBySpec(*ports, spec).value("listening", false)) << spec << ports->dump(2);
  }

  // A second VM asking for the same host port is refused at once, naming web.
  Result<json> taken = d.Call("vm.create", {{"name", "other"},
                                            {"image", "default"},
                                            {"caps", {{"publish", json::array({"18080:80"})}}}});
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.error().message().find("\"web\""), std::string::npos)
      << taken.error().message();

  // Live publish on the running VM, then unpublish.
  ASSERT_TRUE(d.Call("vm.publish", {{"name", "web"}, {"spec", "18081:8000"}}).ok());
  EXPECT_EQ(CurlIn(d.pid(), 18081), "hello-from-web\n");
  ASSERT_TRUE(d.Call("vm.unpublish", {{"name", "web"}, {"spec", "18081:8000"}}).ok());
  EXPECT_EQ(CurlIn(d.pid(), 18081), "");

  // VM restart: the listener comes back with the guest.
  ASSERT_TRUE(d.Call("vm.stop", {{"name", "web"}}).ok());
  EXPECT_EQ(CurlIn(d.pid(), 18080), "") << "no listener while the VM is stopped";
  ASSERT_TRUE(d.Call("vm.start", {{"name", "web"}}).ok()) << d.Log();
  ASSERT_TRUE(StartHttpd(d, "web").ok());
  EXPECT_EQ(CurlIn(d.pid(), 18080), "hello-from-web\n");
  ASSERT_TRUE(StartUdpEcho(d, "web", 9000).ok());
  EXPECT_EQ(UdpEchoIn(d.pid(), 18053, "after-vm-restart"), "echo:after-vm-restart");

  // Daemon restart (the guest keeps running, the new daemon adopts it). The
  // harness's second start makes the daemon a fresh namespace, so the check
  // runs in the new daemon's.
  ASSERT_EQ(d.Stop(), 0);
  ASSERT_TRUE(d.Start({}, /*own_netns=*/true).ok()) << d.Log();
  EXPECT_EQ(CurlIn(d.pid(), 18080), "hello-from-web\n") << d.Log();
  EXPECT_EQ(UdpEchoIn(d.pid(), 18053, "after-daemon-restart"), "echo:after-daemon-restart");
  EXPECT_EQ(SshIn(d.pid(), 12222, *ssh, "hostname"), "web\n");

  ASSERT_TRUE(d.Call("vm.rm", {{"name", "web"}, {"force", true}}).ok());
  EXPECT_EQ(CurlIn(d.pid(), 18080), "") << "vm rm leaves no listener";
  EXPECT_EQ(UdpEchoIn(d.pid(), 18053, "gone", 1), "");
  Result<json> gone = d.Call("vm.ports", {{"name", "web"}});
  EXPECT_FALSE(gone.ok());
}

}  // namespace
}  // namespace warren::e2e

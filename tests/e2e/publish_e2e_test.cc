// `publish` end to end: a real guest in isolated mode (the host has no route
// to it) serving HTTP with busybox httpd, reached from the daemon's namespace
// through the published port; the port survives a VM restart and a daemon
// restart, a taken host port is refused naming its VM, and `vm rm` leaves no
// listener. The daemon runs in a namespace made for the test; curl runs there
// too (nsenter), so nothing touches the machine's own network.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "e2e/daemon_harness.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kConfig = "[network]\ntap_pool_size = 2\n";

// As vm_e2e_test: a daemon in its own namespace cannot reach the mirror, so an
// isolated `builder` builds the default image and `d` registers it.
void RegisterDefaultBuiltBy(WarrenDaemon& builder, WarrenDaemon& d) {
  ASSERT_TRUE(builder.Start().ok());
  Result<json> build = builder.Call("image.build", {{"name", "default"}});
  ASSERT_TRUE(build.ok());
  json built;
  ASSERT_TRUE(builder.WaitOp(build->value("op", ""), &built).ok());
  const fs::path dir = built["result"].value("dir", "");
  const json parts = built["result"]["manifest"]["parts"];
  Result<json> registered = d.Call(
      "image.register",
      {{"name", "default"},
       {"kernel", (dir / parts["kernel"].value("file", "")).string()},
       {"initrd", (dir / parts["initrd"].value("file", "")).string()},
       {"rootfs", (dir / parts["rootfs"].value("file", "")).string()},
       {"cmdline", built["result"]["manifest"].value("cmdline", "")}});
  ASSERT_TRUE(registered.ok()) << registered.status().ToString();
}

// curl in the daemon's namespace (where published ports listen); "" on failure.
std::string CurlIn(pid_t daemon, int port) {
  const std::string cmd = "nsenter -t " + std::to_string(daemon) +
                          " -n curl -s --max-time 10 http://127.0.0.1:" + std::to_string(port) +
                          "/ 2>/dev/null";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
    ::pclose(p);
  }
  return out;
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

Status Create(WarrenDaemon& d, const std::string& name, const json& publish) {
  ASSIGN_OR_RETURN(json started, d.Call("vm.create", {{"name", name},
                                                     {"image", "default"},
                                                     {"memory_mib", 384},
                                                     {"caps", {{"publish", publish}}}}));
  return d.WaitOp(started.value("op", ""));
}

TEST(PublishE2eTest, CurlReachesAnIsolatedGuestAcrossRestartsAndRmLeavesNoListener) {
  WarrenDaemon builder;
  WarrenDaemon d(kConfig);
  ASSERT_TRUE(d.Start({}, /*own_netns=*/true).ok()) << d.Log();
  RegisterDefaultBuiltBy(builder, d);
  ASSERT_TRUE(Create(d, "web", json::array({"18080:8000"})).ok()) << d.Log();
  ASSERT_TRUE(StartHttpd(d, "web").ok());
  EXPECT_EQ(CurlIn(d.pid(), 18080), "hello-from-web\n");

  Result<json> ports = d.Call("vm.ports", {{"name", "web"}});
  ASSERT_TRUE(ports.ok()) << ports.status().ToString();
  EXPECT_EQ((*ports)["ports"][0].value("spec", ""), "127.0.0.1:18080:8000/tcp");
  EXPECT_TRUE((*ports)["ports"][0].value("listening", false));

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

  // Daemon restart (the guest keeps running, the new daemon adopts it). The
  // harness's second start makes the daemon a fresh namespace, so the check
  // runs in the new daemon's.
  ASSERT_EQ(d.Stop(), 0);
  ASSERT_TRUE(d.Start({}, /*own_netns=*/true).ok()) << d.Log();
  EXPECT_EQ(CurlIn(d.pid(), 18080), "hello-from-web\n") << d.Log();

  ASSERT_TRUE(d.Call("vm.rm", {{"name", "web"}, {"force", true}}).ok());
  EXPECT_EQ(CurlIn(d.pid(), 18080), "") << "vm rm leaves no listener";
  Result<json> gone = d.Call("vm.ports", {{"name", "web"}});
  EXPECT_FALSE(gone.ok());
}

}  // namespace
}  // namespace warren::e2e

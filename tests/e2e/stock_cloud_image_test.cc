// A stock Debian 12 cloud guest, built the way a user would (mmdebstrap with
// Debian's cloud kernel, its own initramfs-tools initrd, systemd, OpenSSH,
// cloud-init 22.4, ifupdown: scripts/build-stock-cloud-image.sh, cached in
// $WARREN_TEST_CACHE), registered with `image.register` and booted by the real
// daemon in its own network namespace. It must reach ready with the pinned
// host key (warren's readiness check) through cloud-init alone, and cloud-init
// must end `done` without errors. Before the seed was fixed, cloud-init 22.4
// rejected the network-config's `to: default` route, left eth0 unconfigured,
// and the create timed out after 3 minutes.
//
// The same (single: ~45-60 s under TCG) boot carries the VM capabilities a
// user of a stock image reaches for: a #cloud-config user-data (write_files,
// runcmd) that takes effect and whose status `vm inspect` shows, a second key
// that logs in with OpenSSH through a published port 22 (the pinned host key
// checked), a published guest web server reached with curl, and names through
// warren's DNS (ifupdown without resolvconf ignores `dns-nameservers`), and two
// shared folders (virtiofs, mounted by cloud-init's bootcmd from the seed):
// files round-trip both ways and the `:ro` one refuses a write, even after the
// guest remounts it read-write (virtiofsd serves it from a read-only bind).
// The daemon runs in a namespace made for the test, and so do the clients.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "e2e/daemon_harness.h"
#include "e2e/netns_clients.h"
#include "sys/files.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kImage[] = "debian12-cloud";
constexpr char kVm[] = "stock1";

// Builds (or finds, when complete) the stock image's parts in the test cache.
Result<fs::path> StockImageDir(const TempDir& scratch) {
  std::string cache = TestCacheDir();
  fs::path dir = (cache.empty() ? scratch.path() : fs::path(cache)) / "stock-debian12-cloud";
  RunSpec build;
  build.argv = {"bash", std::string(WARREN_SOURCE_DIR) + "/scripts/build-stock-cloud-image.sh",
                dir.string()};
  build.timeout = std::chrono::minutes(20);
  RealRunner runner;
  Result<RunResult> r = runner.Run(build);
  if (!r.ok()) return r.error();
  if (r->exit_code != 0) {
    return Internal("build-stock-cloud-image.sh failed (" + std::to_string(r->exit_code) +
                    "):\n" + r->err.substr(r->err.size() > 4000 ? r->err.size() - 4000 : 0));
  }
  return dir;
}

RunResult Exec(WarrenDaemon& d, const std::vector<std::string>& argv) {
  std::vector<std::string> args = {"exec", kVm, "--"};
  args.insert(args.end(), argv.begin(), argv.end());
  return d.Cli(args);
}

constexpr int kSshPort = 12222, kHttpPort = 18080;

// write_files and runcmd, from the cloud-init stages before and after SSH.
constexpr char kCloudConfig[] = R"(#cloud-config
write_files:
  - path: /srv/www/index.html
    content: "hello-from-cloud-config\n"
runcmd:
  - [sh, -c, "id -un > /root/runcmd-ran"]
)";

Status StartHttpServer(WarrenDaemon& d) {
  // python3 is in every cloud-init image; wait (bounded) until it listens.
  // Only the server is backgrounded, its fds away from the session's (a
  // backgrounded `cd && python3` list would hold them and the exec never ends).
  RunResult r = Exec(d, {"bash", "-c",
                         "python3 -m http.server 8000 --directory /srv/www "
                         "</dev/null >/dev/null 2>&1 & "
                         "for i in $(seq 100); do "
                         "(exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null && exit 0; sleep 0.2; "
                         "done; exit 1"});
  if (r.exit_code != 0) return Internal("http.server did not listen: " + r.out + r.err);
  return Status::Ok();
}

// The shares through the guest: host → guest and guest → host on the rw one
// (content checked); the ro one reads, and refuses a write from the guest's
// ro mount and again after the guest remounted it rw (EROFS from the host side).
void CheckShares(WarrenDaemon& d, const fs::path& rw, const fs::path& ro) {
  std::ofstream(rw / "from-host") << "host says hi\n";
  RunResult seen = Exec(d, {"cat", "/mnt/rw/from-host"});
  EXPECT_EQ(seen.out, "host says hi\n") << seen.err << Exec(d, {"cat", "/proc/mounts"}).out;
  RunResult wrote = Exec(d, {"sh", "-c", "echo guest says hi >/mnt/rw/from-guest"});
  EXPECT_EQ(wrote.exit_code, 0) << wrote.err;
  Result<std::string> back = ReadFileToString(rw / "from-guest");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, "guest says hi\n");
  EXPECT_EQ(Exec(d, {"cat", "/mnt/ro/readme"}).out, "from the host, read-only\n");
  RunResult write_ro = Exec(d, {"sh", "-c",
                                "echo x >/mnt/ro/nope && exit 10; mount -o remount,rw /mnt/ro || "
                                "exit 11; grep ' /mnt/ro ' /proc/mounts; echo x >/mnt/ro/nope"});
  // 2: dash's failed redirection, after the remount took (10, 11: it did not).
  EXPECT_EQ(write_ro.exit_code, 2) << write_ro.out << write_ro.err;
  EXPECT_NE(write_ro.out.find("/mnt/ro virtiofs rw"), std::string::npos) << write_ro.out;
  const std::string erofs = "cannot create /mnt/ro/nope: Read-only file system";
  const size_t first = write_ro.err.find(erofs);
  ASSERT_NE(first, std::string::npos) << write_ro.err;
  EXPECT_NE(write_ro.err.find(erofs, first + 1), std::string::npos)
      << "the write after the remount: " << write_ro.err;
  EXPECT_FALSE(fs::exists(ro / "nope"));
}

TEST(StockCloudImageE2eTest, BootsToReadyCloudInitFinishesAndCapabilitiesWork) {
  TempDir scratch;
  Result<fs::path> parts = StockImageDir(scratch);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();

  WarrenDaemon d;
  ASSERT_TRUE(d.Start({}, /*own_netns=*/true).ok()) << d.Log();
  Result<json> image = d.Call("image.register", {{"name", kImage},
                                                 {"kernel", (*parts / "vmlinuz").string()},
                                                 {"initrd", (*parts / "initrd.img").string()},
                                                 {"rootfs", (*parts / "rootfs.tar").string()},
                                                 {"cloud_init", true}});
  ASSERT_TRUE(image.ok()) << image.status().ToString();

  // Ready means: SSH answered with the host key warren put in the seed
  // (cloud-init's ssh_keys) and took the daemon's key for root; with a
  // cloud-config user-data the create also waits for cloud-init's end.
  Result<SshClientFiles> ssh = MakeSshKey(scratch.path(), "stock-user@test");
  ASSERT_TRUE(ssh.ok()) << ssh.status().ToString();
  // QEMU and virtiofsd run as vm.qemu_user: the shared folders are open to it.
  const fs::path rw = scratch.path() / "rw", ro = scratch.path() / "ro";
  fs::create_directories(rw);
  fs::create_directories(ro);
  for (const fs::path& p : {scratch.path(), rw, ro}) fs::permissions(p, fs::perms::all);
  std::ofstream(ro / "readme") << "from the host, read-only\n";
  const json caps = {{"user_data", kCloudConfig},
                     {"share", {rw.string() + ":/mnt/rw", ro.string() + ":/mnt/ro:ro"}},
                     {"ssh_key", {ssh->public_key}},
                     {"publish", {std::to_string(kSshPort) + ":22",
                                  std::to_string(kHttpPort) + ":8000"}}};
  Result<json> started = d.Call(
      "vm.create", {{"name", kVm}, {"image", kImage}, {"memory_mib", 512}, {"caps", caps}});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  json op;
  Status created = d.WaitOp(started->value("op", ""), &op);
  ASSERT_TRUE(created.ok()) << created.ToString() << "\n" << d.Log();
  const json vm = op.value("result", json::object());
  // cloud-init's own verdict, once its final stage is over (bounded).
  RunResult status = Exec(d, {"timeout", "300", "cloud-init", "status", "--wait", "--long"});
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_NE(status.out.find("status: done"), std::string::npos) << status.out;
  RunResult result = Exec(d, {"cat", "/run/cloud-init/result.json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  json v1 = json::parse(result.out, nullptr, false).value("v1", json::object());
  EXPECT_EQ(v1.value("datasource", "").rfind("DataSourceNoCloud", 0), 0u) << result.out;
  EXPECT_EQ(v1.value("errors", json::array()), json::array()) << result.out;
  RunResult warnings = Exec(d, {"grep", "-E", "WARNING|ERROR|Traceback", "/var/log/cloud-init.log"});
  EXPECT_EQ(warnings.exit_code, 1) << "cloud-init logged problems:\n" << warnings.out;

  // What the seed asked for took effect: name, address, default route.
  RunResult hostname = Exec(d, {"hostname"});
  EXPECT_EQ(hostname.out, std::string(kVm) + "\n");
  RunResult addr = Exec(d, {"ip", "-4", "-o", "addr", "show", "dev", "eth0"});
  EXPECT_NE(addr.out.find(" " + vm.value("ip", "?") + "/"), std::string::npos) << addr.out;
  RunResult route = Exec(d, {"ip", "-4", "route", "show", "default"});
  EXPECT_NE(route.out.find("default via "), std::string::npos) << route.out << route.err;

  // The user's cloud-config took effect, and vm inspect says it finished.
  EXPECT_EQ(Exec(d, {"cat", "/srv/www/index.html"}).out, "hello-from-cloud-config\n");
  EXPECT_EQ(Exec(d, {"cat", "/root/runcmd-ran"}).out, "root\n");
  Result<json> info = d.Call("vm.inspect", {{"name", kVm}});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const json& ud = (*info)["caps"]["user_data"];
  EXPECT_EQ(ud.value("kind", ""), "cloud-config") << info->dump(2);
  EXPECT_EQ(ud.value("state", ""), "done") << info->dump(2);
  EXPECT_EQ(ud.value("exit_status", -1), 0) << info->dump(2);
  EXPECT_NE(ud.value("output", "").find("status: done"), std::string::npos) << info->dump(2);
  EXPECT_EQ((*info)["caps"]["ssh_key"][0].value("comment", ""), "stock-user@test");
  EXPECT_EQ((*info)["caps"]["publish"].size(), 2u) << info->dump(2);
  EXPECT_EQ((*info)["caps"]["share"].size(), 2u) << info->dump(2);

  CheckShares(d, rw, ro);

  // The user's key logs in with OpenSSH through the published port 22.
  ASSERT_TRUE(PinHostKey(*ssh, d.root() / "vms" / kVm / "host_key.pub", kSshPort).ok());
  EXPECT_EQ(SshIn(d.pid(), kSshPort, *ssh, "id -un; hostname"), std::string("root\n") + kVm + "\n");

  // A guest web server through the published port (serving what the
  // cloud-config wrote).
  ASSERT_TRUE(StartHttpServer(d).ok());
  EXPECT_EQ(CurlIn(d.pid(), kHttpPort, "/index.html"), "hello-from-cloud-config\n");

  // Names resolve through warren's DNS: the VM's own FQDN (not in /etc/hosts:
  // Debian's cloud.cfg leaves manage_etc_hosts off) gives its address.
  RunResult name = Exec(d, {"getent", "hosts", std::string(kVm) + ".warren.internal"});
  EXPECT_EQ(name.out.rfind(vm.value("ip", "?") + " ", 0), 0u)
      << name.out << name.err << Exec(d, {"cat", "/etc/resolv.conf"}).out;
}

}  // namespace
}  // namespace warren::e2e

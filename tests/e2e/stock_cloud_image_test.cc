// A stock Debian 12 cloud guest, built the way a user would (mmdebstrap with
// Debian's cloud kernel, its own initramfs-tools initrd, systemd, OpenSSH,
// cloud-init 22.4, ifupdown: scripts/build-stock-cloud-image.sh, cached in
// $WARREN_TEST_CACHE), registered with `image.register` and booted by the real
// daemon in its own network namespace. It must reach ready with the pinned
// host key (warren's readiness check) through cloud-init alone, and cloud-init
// must end `done` without errors. Before the seed was fixed, cloud-init 22.4
// rejected the network-config's `to: default` route, left eth0 unconfigured,
// and the create timed out after 3 minutes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "e2e/daemon_harness.h"

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

TEST(StockCloudImageE2eTest, BootsToReadyAndCloudInitFinishesWithoutErrors) {
  TempDir scratch;
  Result<fs::path> parts = StockImageDir(scratch);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();

  WarrenDaemon d;
  ASSERT_TRUE(d.Start().ok());
  Result<json> image = d.Call("image.register", {{"name", kImage},
                                                 {"kernel", (*parts / "vmlinuz").string()},
                                                 {"initrd", (*parts / "initrd.img").string()},
                                                 {"rootfs", (*parts / "rootfs.tar").string()}});
  ASSERT_TRUE(image.ok()) << image.status().ToString();

  // Ready means: SSH answered with the host key warren put in the seed
  // (cloud-init's ssh_keys) and took the daemon's key for root.
  Result<json> vm = d.CreateVm(kVm, 512, kImage);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();

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
  EXPECT_NE(addr.out.find(" " + vm->value("ip", "?") + "/"), std::string::npos) << addr.out;
  RunResult route = Exec(d, {"ip", "-4", "route", "show", "default"});
  EXPECT_NE(route.out.find("default via "), std::string::npos) << route.out << route.err;
}

}  // namespace
}  // namespace warren::e2e

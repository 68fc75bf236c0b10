// The web UI in a real browser against a real daemon and a real guest:
// Debian's headless chromium driven by tests/web/e2e.mjs (playwright-core)
// opens the URL `warren web --json` prints, creates a VM from the dashboard
// and watches its progress bar, runs `uname -a` and `stty size` in the
// browser terminal across a window resize, closes the tab and sees the
// scrollback on reopening, checks that `warren session send/logs` share that
// same session, then stops and deletes the VM from the page.
// Screenshots land in <build>/web-e2e/ (kept as CI output).
//
// The daemon's VMs live in its own namespace (isolated mode); the web
// listener is on loopback with a free port. The driver runs in a PID
// namespace of its own (unshare --kill-child): however it ends, the kernel
// kills the browser with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "e2e/daemon_harness.h"
#include "sys/runner.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kVm[] = "webvm";
constexpr char kChromium[] = "/usr/bin/chromium";
// The driver's own deadline; the runner's is a little later, as a backstop.
constexpr int kDriverDeadlineS = 780;

std::string Which(const std::string& prog) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    fs::path p = fs::path(dir) / prog;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

TEST(WebE2eTest, DashboardTerminalAndLifecycleInChromium) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, QEMU)";
  const std::string node = Which("node");
  if (node.empty() || ::access(kChromium, X_OK) != 0) {
    GTEST_SKIP() << "needs node and Debian's chromium (scripts/install-deps.sh installs both)";
  }
  RealRunner runner;
  RunSpec install;
  install.argv = {WEB_E2E_SOURCE_DIR "/install-driver.sh"};
  install.timeout = std::chrono::minutes(5);
  Result<RunResult> installed = runner.Run(install);
  ASSERT_TRUE(installed.ok()) << installed.status().ToString();
  ASSERT_EQ(installed->exit_code, 0) << "installing playwright-core failed:\n" << installed->err;
  std::string driver_dir = installed->out.substr(0, installed->out.find('\n'));

  WarrenDaemon daemon("[network]\ntap_pool_size = 1\n[web]\nlisten = \"127.0.0.1:0\"\n");
  Status st = daemon.StartWithDefaultImage();
  ASSERT_TRUE(st.ok()) << st.ToString();

  RunResult web = daemon.Cli({"web", "--json"});
  ASSERT_EQ(web.exit_code, 0) << web.err;
  json info = json::parse(web.out, nullptr, false);
  ASSERT_TRUE(info.is_object() && info.contains("url")) << web.out;
  const std::string url = info["url"].get<std::string>();
  ASSERT_NE(url.find("token="), std::string::npos) << url;

  const fs::path out = WEB_E2E_OUTPUT_DIR;
  std::error_code ec;
  fs::create_directories(out, ec);
  RunSpec drive;
  drive.argv = {"unshare", "--pid", "--fork", "--kill-child", node,
                WEB_E2E_SOURCE_DIR "/e2e.mjs", "--url", url, "--out", out.string(),
                "--vm", kVm, "--driver", driver_dir,
                "--warren", WARREN_BINARY, "--root", daemon.root().string(),
                "--deadline-s", std::to_string(kDriverDeadlineS)};
  drive.timeout = std::chrono::seconds(kDriverDeadlineS + 60);
  drive.on_output = [](std::string_view chunk, bool) { std::fwrite(chunk.data(), 1, chunk.size(), stderr); };
  Result<RunResult> ran = runner.Run(drive);
  ASSERT_TRUE(ran.ok()) << ran.status().ToString() << "\ndaemon log:\n" << daemon.Log();
  EXPECT_EQ(ran->exit_code, 0) << "the browser driver failed (screenshots in " << out.string()
                               << ")\ndaemon log tail:\n"
                               << daemon.Log().substr(daemon.Log().size() > 4000 ? daemon.Log().size() - 4000 : 0);

  // The page's delete reached the daemon.
  Result<json> vms = daemon.Call("vm.list");
  ASSERT_TRUE(vms.ok()) << vms.status().ToString();
  for (const json& vm : (*vms)["vms"]) EXPECT_NE(vm.value("name", ""), kVm);
  EXPECT_TRUE(fs::exists(out / "dashboard.png"));
  EXPECT_TRUE(fs::exists(out / "terminal.png"));
}

}  // namespace
}  // namespace warren::e2e

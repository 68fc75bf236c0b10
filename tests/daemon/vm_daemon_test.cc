// A whole Daemon with VMs, through its RPC surface, on fakes (FakeDaemonDeps):
// no namespace, bridge, TAP or QEMU, so it runs as an ordinary user.
#include <gtest/gtest.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "daemon/daemon.h"
#include "fakes/fake_daemon_deps.h"
#include "rpc/client.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uid_t kNobody = 65534;

// One served daemon on fakes, with a client.
class Running {
 public:
  explicit Running(const Layout& layout) : fakes_(std::make_unique<FakeDaemonDeps>()) {
    fakes = fakes_.get();
    auto d = Daemon::Open(layout, std::move(fakes_->deps));
    if (!d.ok()) {
      ADD_FAILURE() << d.status().ToString();
      return;
    }
    daemon = std::move(d).value();
    serve_ = std::thread([this] { (void)daemon->Serve(); });
    auto c = rpc::Client::Connect(layout.socket);
    if (!c.ok()) {
      ADD_FAILURE() << c.status().ToString();
      return;
    }
    client_ = std::move(c).value();
  }
  ~Running() { Close(); }

  bool ok() const { return client_ != nullptr; }
  Result<json> Call(std::string_view method, json params = json::object()) {
    return client_->Call(method, params);
  }
  // Runs an op-returning method and waits for its op; the op's final record.
  Result<json> CallAndWait(std::string_view method, json params) {
    ASSIGN_OR_RETURN(json started, Call(method, std::move(params)));
    return Call("op.wait", {{"id", started["op"]}});
  }
  void Close() {
    if (!daemon) return;
    client_.reset();
    EXPECT_TRUE(daemon->Close().ok());
    serve_.join();
    daemon.reset();
  }

  FakeDaemonDeps* fakes = nullptr;  // its fakes now belong to daemon
  std::unique_ptr<Daemon> daemon;

 private:
  std::unique_ptr<FakeDaemonDeps> fakes_;
  std::thread serve_;
  std::unique_ptr<rpc::Client> client_;
};

class VmDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-vm-daemon-XXXXXX";
    layout_ = Layout::ForRoot(mkdtemp(tmpl));
    ASSERT_TRUE(layout_.Ensure().ok());
    // The host-side DNS listener on a port of the kernel's choice, so tests
    // running side by side never meet.
    std::ofstream(layout_.config_file)
        << "[dns]\nhost_listen = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n";
  }
  void TearDown() override { fs::remove_all(layout_.root); }

  std::string VmState(Running& d, const std::string& name) {
    Result<json> vm = d.Call("vm.inspect", {{"name", name}});
    return vm.ok() ? (*vm)["state"].get<std::string>() : vm.status().ToString();
  }

  // The create → stop → start → rm lifecycle through RPC.
  void Lifecycle() {
    Running d(layout_);
    ASSERT_TRUE(d.ok());
    Result<json> built = d.CallAndWait("image.build", {{"name", "base"}});
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    ASSERT_EQ((*built)["state"], "succeeded") << built->dump();

    Result<json> created = d.CallAndWait("vm.create", {{"name", "web"}, {"image", "base"}});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    ASSERT_EQ((*created)["state"], "succeeded") << created->dump();
    EXPECT_EQ(VmState(d, "web"), "running");
    EXPECT_EQ(d.fakes->hypervisor->Alive().size(), 1u);
    EXPECT_GE(d.fakes->dialer->dials(), 1);  // the readiness wait went through the seam
    EXPECT_TRUE(fs::exists(layout_.vms_dir / "web" / "seed.iso"));
    Result<json> dns = d.Call("dns.list");
    ASSERT_TRUE(dns.ok()) << dns.status().ToString();
    ASSERT_EQ((*dns)["records"].size(), 1u) << dns->dump();
    EXPECT_EQ((*dns)["records"][0]["name"], "web");

    ASSERT_TRUE(d.Call("vm.stop", {{"name", "web"}}).ok());
    EXPECT_EQ(VmState(d, "web"), "stopped");
    EXPECT_TRUE(d.fakes->hypervisor->Alive().empty());
    Result<json> started = d.Call("vm.start", {{"name", "web"}});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    EXPECT_EQ(VmState(d, "web"), "running");

    ASSERT_TRUE(d.Call("vm.rm", {{"name", "web"}, {"force", true}}).ok());
    EXPECT_TRUE((*d.Call("vm.list"))["vms"].empty());
    EXPECT_TRUE(d.fakes->hypervisor->Alive().empty());
    EXPECT_FALSE(fs::exists(layout_.vms_dir / "web"));
    EXPECT_TRUE((*d.Call("dns.list"))["records"].empty());
    // Close, then read the fake before the daemon (its owner) goes.
    ASSERT_TRUE(d.daemon->Close().ok());
    std::vector<std::string> calls = d.fakes->network->calls();
    ASSERT_FALSE(calls.empty());
    EXPECT_EQ(calls.front().rfind("open netns warren-", 0), 0u) << calls.front();
    EXPECT_EQ(calls.back().rfind("delete netns warren-", 0), 0u) << calls.back();
  }

  Layout layout_;
};

TEST_F(VmDaemonTest, CreateStopStartRemoveThroughRpcAsAnOrdinaryUser) {
  if (::geteuid() != 0) {
    Lifecycle();
    return;
  }
  // Running as root: prove nothing needs it by running the daemon in a child
  // that dropped to nobody.
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(layout_.root)) {
    ASSERT_EQ(::chown(e.path().c_str(), kNobody, kNobody), 0);
  }
  ASSERT_EQ(::chown(layout_.root.c_str(), kNobody, kNobody), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      std::_Exit(3);
    }
    Lifecycle();
    std::fflush(stdout);
    std::_Exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  pid_t got = 0;
  while ((got = ::waitpid(child, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (got == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "the unprivileged daemon did not finish within 2 minutes";
  }
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the lifecycle failed as uid " << kNobody
                                    << " (see its output above)";
}

// Fault 6: QEMUs exiting on their own while the daemon closes. Their exit
// callbacks (QEMU watcher threads) reach the VM manager's hooks: the session
// registry and the DNS records. Close must stop the watchers before anything
// they reach is freed. Run under TSan (build-tsan) and ASan to see it.
TEST_F(VmDaemonTest, QemuExitsDuringCloseTouchNothingFreed) {
  constexpr int kVms = 4;
  constexpr int kRounds = 6;
  std::mt19937 rng(42);
  for (int round = 0; round < kRounds; ++round) {
    Running d(layout_);
    ASSERT_TRUE(d.ok());
    if (round == 0) {
      ASSERT_TRUE(d.CallAndWait("image.build", {{"name", "base"}}).ok());
      for (int i = 0; i < kVms; ++i) {
        Result<json> c =
            d.CallAndWait("vm.create", {{"name", "vm" + std::to_string(i)}, {"image", "base"}});
        ASSERT_TRUE(c.ok() && (*c)["state"] == "succeeded") << c.status().ToString();
      }
    } else {
      for (int i = 0; i < kVms; ++i) {
        Result<json> s = d.Call("vm.start", {{"name", "vm" + std::to_string(i)}});
        ASSERT_TRUE(s.ok()) << s.status().ToString();
      }
    }
    FakeHypervisor* hv = d.fakes->hypervisor;
    std::set<pid_t> alive = hv->Alive();
    ASSERT_EQ(alive.size(), static_cast<size_t>(kVms));
    std::atomic<bool> go{false};
    const auto delay = std::chrono::microseconds(rng() % 3000);
    std::thread qemus_exit([&] {
      while (!go.load()) std::this_thread::yield();
      std::this_thread::sleep_for(delay);
      for (pid_t pid : alive) hv->ExitForTest(pid, 1);
    });
    go = true;
    EXPECT_TRUE(d.daemon->Close().ok());
    // The fake hypervisor belongs to the daemon: destroyed only after its
    // "QEMUs" are done.
    qemus_exit.join();
    d.Close();
  }
  // Whatever the interleaving, the next daemon sees every VM settled.
  Running d(layout_);
  ASSERT_TRUE(d.ok());
  for (int i = 0; i < kVms; ++i) {
    std::string state = VmState(d, "vm" + std::to_string(i));
    EXPECT_TRUE(state == "failed" || state == "stopped") << state;
  }
}

}  // namespace
}  // namespace warren

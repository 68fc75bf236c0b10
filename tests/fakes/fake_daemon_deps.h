#pragma once

#include <memory>
#include <set>

#include "base/check.h"
#include "daemon/deps.h"
#include "fakes/fake_guest_dialer.h"
#include "fakes/fake_host_network.h"
#include "fakes/fake_host_probe.h"
#include "fakes/fake_hypervisor.h"
#include "fakes/fake_image_builder.h"
#include "fakes/fake_runner.h"
#include "rpc/dispatcher.h"
#include "rpc/services.h"
#include "sys/runner.h"

namespace warren {

// A complete DaemonDeps on fakes, so a whole Daemon (VMs included) opens as an
// ordinary user: no namespace, bridge, TAP or QEMU is made. The runner runs
// the real programs a create needs on files only (qemu-img, genisoimage)
// unless a test scripts them. The raw pointers stay valid while the Daemon
// that took `deps` lives.
struct FakeDaemonDeps {
  DaemonDeps deps;
  FakeRunner* runner = nullptr;
  FakeHostProbe* host_probe = nullptr;
  FakeImageBuilder* image_builder = nullptr;
  FakeHypervisor* hypervisor = nullptr;
  FakeHostNetwork* network = nullptr;
  FakeGuestDialer* dialer = nullptr;

  explicit FakeDaemonDeps(KvmState kvm = KvmState::kPvm) {
    auto runner_owned = std::make_unique<FakeRunner>();
    runner = runner_owned.get();
    runner->SetUnmatched([real = std::make_shared<RealRunner>()](const RunSpec& spec,
                                                                 std::stop_token stop) {
      return real->Run(spec, stop);
    });
    deps.runner = std::move(runner_owned);
    deps.clock = std::make_unique<SystemClock>();
    auto probe = std::make_unique<FakeHostProbe>();
    probe->kvm = {kvm, "fake"};
    host_probe = probe.get();
    deps.host_probe = std::move(probe);
    auto builder = std::make_unique<FakeImageBuilder>();
    image_builder = builder.get();
    deps.image_builder = std::move(builder);
    auto hv = std::make_unique<FakeHypervisor>();
    hypervisor = hv.get();
    deps.hypervisor = std::move(hv);
    auto net = std::make_unique<FakeHostNetwork>();
    network = net.get();
    deps.network = std::move(net);
    // Made now so `dialer` is known; handed over once, when the daemon asks.
    auto made = std::make_shared<std::unique_ptr<FakeGuestDialer>>(
        std::make_unique<FakeGuestDialer>());
    dialer = made->get();
    deps.guest_dialer = [made](SocketFactory) -> std::unique_ptr<GuestDialer> {
      CHECK(*made != nullptr);  // one dialer per daemon
      return std::move(*made);
    };
    deps.wait_for_guest_ready = &DaemonDeps::WaitForSshReady;  // over the fake dialer
    deps.request_handler = &DaemonDeps::TableDispatcher;
    // A live fake QEMU "uses" kFakeCpuSeconds and kFakeRssBytes; never /proc,
    // where a fake pid may belong to any real process.
    deps.process_usage = [hv = hypervisor](pid_t pid) -> Result<metrics::ProcessUsage> {
      if (!hv->Alive().contains(pid)) return NotFound("FakeHypervisor: no such process");
      return metrics::ProcessUsage{kFakeCpuSeconds, kFakeRssBytes};
    };
    deps.host_memory = [] { return Result<uint64_t>(kFakeHostMemory); };
    // A fake QEMU killed by a test's Crash: OOM when it is in oom_pids.
    deps.oom_killed = [oom = oom_pids](pid_t pid) { return oom->contains(pid); };
    // Fake guests run no agent.
    deps.connect_agent = [](const std::filesystem::path &) -> Result<std::unique_ptr<GuestAgent>> {
      return Unavailable("FakeDaemonDeps: fake guests run no agent");
    };
  }
  static constexpr uint64_t kFakeHostMemory = 64ull << 30;  // room for any test's VMs
  // Pids the fake kernel log names as OOM-killed (tests fill it).
  std::shared_ptr<std::set<pid_t>> oom_pids = std::make_shared<std::set<pid_t>>();
  static constexpr double kFakeCpuSeconds = 2.5;
  static constexpr uint64_t kFakeRssBytes = 128ull << 20;
  FakeDaemonDeps(const FakeDaemonDeps&) = delete;
  FakeDaemonDeps& operator=(const FakeDaemonDeps&) = delete;
};

}  // namespace warren

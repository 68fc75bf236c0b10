// Taking a TAP from the warm pool vs creating one from scratch.
//
// The whole process first moves into a network and mount namespace of its own
// (so nothing it makes touches the machine's network), then creates a named VM
// namespace with a bridge in it, as the daemon does. Needs root.
#include <benchmark/benchmark.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "net/bridge.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "net/tap_device.h"
#include "net/tap_pool.h"

namespace warren {
namespace {

constexpr size_t kPoolSize = 8;
// Fixed: each iteration also deletes a link (untimed), which waits for an RCU
// grace period (~10-30 ms), so a time-based run would take minutes.
constexpr int kIterations = 200;
std::optional<NetnsHandle> g_ns;  // set up in main before any benchmark runs

MacAddress GuestMac() { return *ParseMac("52:54:00:4d:00:02"); }

void BM_TakeFromWarmPool(benchmark::State& state) {
  auto pool = std::move(*TapPool::Create(*g_ns, {.bridge = "wbr0", .target_size = kPoolSize}));
  if (!pool->Start().ok() || !pool->WaitForFillForTest(std::chrono::seconds(30))) {
    state.SkipWithError("pool did not fill");
    return;
  }
  for (auto _ : state) {
    Result<Tap> tap = pool->Take(GuestMac());
    state.PauseTiming();
    if (!tap.ok()) {
      state.SkipWithError(tap.status().ToString().c_str());
      break;
    }
    (void)pool->Release(tap->name);
    pool->WaitForFillForTest(std::chrono::seconds(30));  // every timed Take is a warm one
    state.ResumeTiming();
  }
  state.counters["cold_takes"] = static_cast<double>(pool->GetStats().cold_takes);
}
BENCHMARK(BM_TakeFromWarmPool)->Unit(benchmark::kMicrosecond)->Iterations(kIterations);

// What Take costs without a pool: a short-lived thread enters the namespace,
// opens netlink, creates the TAP (tun ioctl), enslaves it and brings it up, then
// the MAC is set — exactly the pool's cold path.
void BM_CreateFromScratch(benchmark::State& state) {
  auto pool = std::move(*TapPool::Create(*g_ns, {.bridge = "wbr0", .target_size = 0}));
  uint64_t n = 0;
  for (auto _ : state) {
    std::string name = "wtap" + std::to_string(100000 + n++);
    Result<Tap> tap = RunInNetns(g_ns->fd(), [&]() -> Result<Tap> {
      ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
      return CreateTapHere(nl, name, "wbr0");
    });
    if (tap.ok()) (void)SetTapMac(tap->fd.get(), TapMacFor(GuestMac()));
    state.PauseTiming();
    if (!tap.ok()) {
      state.SkipWithError(tap.status().ToString().c_str());
      break;
    }
    (void)pool->Release(tap->name);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_CreateFromScratch)->Unit(benchmark::kMicrosecond)->Iterations(kIterations);

// The refill thread's cost per TAP: already inside the namespace, netlink open.
void BM_CreateInsideNamespace(benchmark::State& state) {
  auto pool = std::move(*TapPool::Create(*g_ns, {.bridge = "wbr0", .target_size = 0}));
  Status st = RunInNetns(g_ns->fd(), [&]() -> Status {
    ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
    uint64_t n = 0;
    for (auto _ : state) {
      Result<Tap> tap = CreateTapHere(nl, "wtap" + std::to_string(200000 + n++), "wbr0");
      state.PauseTiming();
      if (!tap.ok()) return tap.error();
      (void)nl.DeleteLink(tap->name);
      state.ResumeTiming();
    }
    return Status::Ok();
  });
  if (!st.ok()) state.SkipWithError(st.ToString().c_str());
}
BENCHMARK(BM_CreateInsideNamespace)->Unit(benchmark::kMicrosecond)->Iterations(kIterations);

}  // namespace
}  // namespace warren

int main(int argc, char** argv) {
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    std::perror("tap_pool_bench needs root (unshare net+mount namespaces)");
    return 1;
  }
  std::string dir = (std::filesystem::temp_directory_path() / "warren-bench-XXXXXX").string();
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mkdtemp(dir.data()) == nullptr ||
      ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m") != 0) {
    std::perror("tap_pool_bench: private mounts");
    return 1;
  }
  auto ns = warren::NetnsHandle::Create(dir, "vms");
  warren::Status st = ns.ok() ? warren::EnsureBridgeIn(*ns, {"wbr0", "10.77.0.1/24"}) : ns.error();
  if (!st.ok()) {
    std::fprintf(stderr, "tap_pool_bench: %s\n", st.ToString().c_str());
    return 1;
  }
  warren::g_ns.emplace(std::move(*ns));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  warren::g_ns.reset();
  ::umount2(dir.c_str(), MNT_DETACH);
  ::rmdir(dir.c_str());
  return 0;
}

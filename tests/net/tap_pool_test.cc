#include "net/tap_pool.h"

#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <chrono>

#include "fresh_netns.h"
#include "net/bridge.h"

namespace warren {
namespace {

using std::chrono::seconds;

constexpr size_t kTarget = 3;
const BridgeConfig kBridge{"wbr0", "10.77.0.1/24"};

// The namespace a daemon would make, with its bridge, inside the test's namespace.
NetnsHandle MakeVmNamespace(const std::string& dir) {
  Result<NetnsHandle> ns = NetnsHandle::Create(dir, "vms");
  EXPECT_TRUE(ns.ok()) << ns.status().ToString();
  Status st = EnsureBridgeIn(*ns, kBridge);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(*ns);
}

std::unique_ptr<TapPool> MakePool(const NetnsHandle& ns, size_t target) {
  Result<std::unique_ptr<TapPool>> pool =
      TapPool::Create(ns, TapPoolOptions{.bridge = "wbr0", .target_size = target});
  EXPECT_TRUE(pool.ok()) << pool.status().ToString();
  return std::move(*pool);
}

std::vector<std::string> Taps(TapPool& pool) {
  Result<std::vector<std::string>> taps = pool.ListTaps();
  EXPECT_TRUE(taps.ok()) << taps.status().ToString();
  std::vector<std::string> out = taps.ok() ? *taps : std::vector<std::string>{};
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TapPoolTest, FillsToTargetWithTapsOnTheBridge) {
  IN_FRESH_NETNS([](const std::string& dir) {
    NetnsHandle ns = MakeVmNamespace(dir);
    auto pool = MakePool(ns, kTarget);
    ASSERT_TRUE(pool->Start().ok());
    ASSERT_TRUE(pool->WaitForFillForTest(seconds(30)));
    std::vector<std::string> taps = Taps(*pool);
    EXPECT_EQ(taps, (std::vector<std::string>{"wtap0", "wtap1", "wtap2"}));

    Result<Netlink> nl = Netlink::OpenIn(ns);
    ASSERT_TRUE(nl.ok());
    int bridge = nl->GetLink("wbr0")->index;
    for (const std::string& name : taps) {
      Result<LinkInfo> link = nl->GetLink(name);
      ASSERT_TRUE(link.ok());
      EXPECT_EQ(link->master_index, bridge) << name;
      EXPECT_TRUE(link->up) << name;
    }
    pool->Shutdown();
    EXPECT_TRUE(Taps(*pool).empty()) << "Shutdown must destroy the stock";
  });
}

TEST(TapPoolTest, TakeGivesATapFdOnTheBridgeWithItsMac) {
  IN_FRESH_NETNS([](const std::string& dir) {
    NetnsHandle ns = MakeVmNamespace(dir);
    auto pool = MakePool(ns, kTarget);
    ASSERT_TRUE(pool->Start().ok());
    ASSERT_TRUE(pool->WaitForFillForTest(seconds(30)));

    MacAddress guest = *ParseMac("52:54:00:4d:00:02");
    Result<Tap> tap = pool->Take(guest);
    ASSERT_TRUE(tap.ok()) << tap.status().ToString();
    EXPECT_EQ(pool->GetStats().warm_takes, 1u);

    ifreq ifr{};  // what QEMU will ask the fd
    ASSERT_EQ(::ioctl(tap->fd.get(), TUNGETIFF, &ifr), 0);
    EXPECT_EQ(std::string(ifr.ifr_name), tap->name);
    EXPECT_TRUE(ifr.ifr_flags & IFF_TAP);
    EXPECT_TRUE(ifr.ifr_flags & IFF_NO_PI);
    EXPECT_TRUE(ifr.ifr_flags & IFF_VNET_HDR);
    EXPECT_TRUE(ifr.ifr_flags & IFF_PERSIST);

    Result<Netlink> nl = Netlink::OpenIn(ns);
    ASSERT_TRUE(nl.ok());
    Result<LinkInfo> link = nl->GetLink(tap->name);
    ASSERT_TRUE(link.ok());
    EXPECT_EQ(link->master_index, nl->GetLink("wbr0")->index);
    EXPECT_TRUE(link->up);
    EXPECT_EQ(FormatMac(link->mac), "fe:54:00:4d:00:02");

    // Refill restores the stock; the taken TAP is no longer part of it.
    ASSERT_TRUE(pool->WaitForFillForTest(seconds(30)));
    EXPECT_EQ(pool->GetStats().ready, kTarget);
    std::vector<std::string> taps = Taps(*pool);
    EXPECT_EQ(taps.size(), kTarget + 1);

    ASSERT_TRUE(pool->Release(tap->name).ok());
    EXPECT_EQ(nl->GetLink(tap->name).status().code(), Code::kNotFound);
    EXPECT_TRUE(pool->Release(tap->name).ok()) << "Release must be idempotent";
    pool->Shutdown();
    EXPECT_TRUE(Taps(*pool).empty());
  });
}

TEST(TapPoolTest, TakenTapsSurviveShutdownUntilReleased) {
  IN_FRESH_NETNS([](const std::string& dir) {
    NetnsHandle ns = MakeVmNamespace(dir);
    auto pool = MakePool(ns, 2);
    ASSERT_TRUE(pool->Start().ok());
    ASSERT_TRUE(pool->WaitForFillForTest(seconds(30)));
    Result<Tap> a = pool->Take(*ParseMac("52:54:00:4d:00:02"));
    Result<Tap> b = pool->Take(*ParseMac("52:54:00:4d:00:03"));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(a->name, b->name);
    pool->Shutdown();
    EXPECT_FALSE(pool->Take(*ParseMac("52:54:00:4d:00:04")).ok());
    std::vector<std::string> left = Taps(*pool);
    std::vector<std::string> taken{a->name, b->name};
    std::sort(taken.begin(), taken.end());
    EXPECT_EQ(left, taken);
    ASSERT_TRUE(pool->Release(a->name).ok());
    ASSERT_TRUE(pool->Release(b->name).ok());
    EXPECT_TRUE(Taps(*pool).empty());
  });
}

TEST(TapPoolTest, EmptyStockFallsBackToCreatingOne) {
  IN_FRESH_NETNS([](const std::string& dir) {
    NetnsHandle ns = MakeVmNamespace(dir);
    auto pool = MakePool(ns, 0);  // nothing kept in stock
    ASSERT_TRUE(pool->Start().ok());
    Result<Tap> tap = pool->Take(*ParseMac("52:54:00:4d:00:09"));
    ASSERT_TRUE(tap.ok()) << tap.status().ToString();
    EXPECT_EQ(pool->GetStats().cold_takes, 1u);
    ifreq ifr{};
    ASSERT_EQ(::ioctl(tap->fd.get(), TUNGETIFF, &ifr), 0);
    EXPECT_EQ(std::string(ifr.ifr_name), tap->name);
    ASSERT_TRUE(pool->Release(tap->name).ok());
    EXPECT_TRUE(Taps(*pool).empty());
  });
}

TEST(TapPoolTest, ReapsStaleTapsAndNamesAboveSurvivors) {
  IN_FRESH_NETNS([](const std::string& dir) {
    NetnsHandle ns = MakeVmNamespace(dir);
    // Leftovers of a previous daemon run: wtap7 belongs to a VM still running.
    RunInNetns(ns.fd(), [] {
      Result<Netlink> nl = Netlink::OpenHere();
      EXPECT_TRUE(nl.ok());
      for (const char* name : {"wtap5", "wtap7", "wtap9"}) {
        Result<Tap> tap = CreateTapHere(*nl, name, "wbr0");
        EXPECT_TRUE(tap.ok()) << tap.status().ToString();
      }
      return Status::Ok();
    }).ToString();

    auto pool = MakePool(ns, 1);
    Result<std::vector<std::string>> reaped = pool->ReapStale({"wtap7"});
    ASSERT_TRUE(reaped.ok()) << reaped.status().ToString();
    EXPECT_EQ(*reaped, (std::vector<std::string>{"wtap5", "wtap9"}));
    EXPECT_EQ(Taps(*pool), std::vector<std::string>{"wtap7"});

    ASSERT_TRUE(pool->Start().ok());
    ASSERT_TRUE(pool->WaitForFillForTest(seconds(30)));
    EXPECT_EQ(Taps(*pool), (std::vector<std::string>{"wtap7", "wtap8"}));
    pool->Shutdown();
    EXPECT_EQ(Taps(*pool), std::vector<std::string>{"wtap7"});
    ASSERT_TRUE(pool->Destroy("wtap7").ok());
    EXPECT_EQ(pool->Destroy("wtap7").code(), Code::kNotFound);
  });
}

TEST(TapPoolTest, RefusesToDestroyForeignLinks) {
  IN_FRESH_NETNS([](const std::string& dir) {
    NetnsHandle ns = MakeVmNamespace(dir);
    auto pool = MakePool(ns, 1);
    EXPECT_EQ(pool->Destroy("wbr0").code(), Code::kInvalidArgument);
    Result<Netlink> nl = Netlink::OpenIn(ns);
    ASSERT_TRUE(nl.ok());
    EXPECT_TRUE(nl->GetLink("wbr0").ok());
  });
}

TEST(TapPoolTest, StartTwiceFails) {
  IN_FRESH_NETNS([](const std::string& dir) {
    NetnsHandle ns = MakeVmNamespace(dir);
    auto pool = MakePool(ns, 1);
    ASSERT_TRUE(pool->Start().ok());
    EXPECT_EQ(pool->Start().code(), Code::kFailedPrecondition);
  });
}

}  // namespace
}  // namespace warren

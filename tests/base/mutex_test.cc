#include "base/mutex.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace warren {
namespace {

TEST(MutexTest, GuardsACounter) {
  Mutex mu;
  int counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        MutexLock l(&mu);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 40000);
}

TEST(MutexTest, SeedOrderIsAllowed) {
  Mutex vm(LockRank::kVm, "vm");
  Mutex create(LockRank::kRegistry, "createVMMu");
  Mutex leaf(LockRank::kLeaf, "tapPool");
  MutexLock a(&vm);
  MutexLock b(&create);
  MutexLock c(&leaf);
  leaf.AssertHeld();
}

TEST(MutexTest, CondVarWakesWaiter) {
  Mutex mu;
  CondVar cv(&mu);
  bool ready = false;
  std::thread t([&] {
    MutexLock l(&mu);
    ready = true;
    cv.SignalAll();
  });
  {
    MutexLock l(&mu);
    while (!ready) cv.Wait(&mu);
  }
  t.join();
  MutexLock l(&mu);
  EXPECT_FALSE(cv.WaitFor(&mu, std::chrono::milliseconds(1)));
}

TEST(MutexDeathTest, CondVarWaitOnAnotherMutexAborts) {
  EXPECT_DEATH(
      {
        Mutex bound(LockRank::kLeaf, "bound");
        Mutex other(LockRank::kLeaf, "other");
        CondVar cv(&bound);
        MutexLock l(&other);
        cv.WaitFor(&other, std::chrono::milliseconds(1));
      },
      "another mutex");
}

TEST(MutexDeathTest, ReverseOrderAborts) {
  EXPECT_DEATH(
      {
        Mutex vm(LockRank::kVm, "vm");
        Mutex image(LockRank::kRegistry, "imageOpsMu");
        MutexLock a(&image);
        MutexLock b(&vm);
      },
      "lock order violation.*taking \"vm\".*holding \"imageOpsMu\"");
}

TEST(MutexDeathTest, TwoLeavesAbort) {
  EXPECT_DEATH(
      {
        Mutex a(LockRank::kLeaf, "tapPool");
        Mutex b(LockRank::kLeaf, "sessions");
        MutexLock la(&a);
        MutexLock lb(&b);
      },
      "lock order violation");
}

}  // namespace
}  // namespace warren

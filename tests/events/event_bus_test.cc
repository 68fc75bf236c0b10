#include "events/event_bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fakes/fake_clock.h"

namespace warren {
namespace {

using std::chrono::milliseconds;

// Drains a subscription until `n` non-meta events arrived or the deadline passed.
std::vector<std::shared_ptr<const Event>> Collect(Subscription& sub, size_t n) {
  std::vector<std::shared_ptr<const Event>> got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    for (auto& e : sub.Next(std::stop_token(), milliseconds(100))) got.push_back(e);
  }
  return got;
}

TEST(EventBusTest, DeliversInOrderWithFields) {
  FakeClock clock(1234);
  EventBus bus(&clock);
  auto sub = bus.Subscribe({});
  bus.Publish("vm", "created", "web1", {{"state", "creating"}});
  bus.Publish("op", "progress", "op-1", {{"fraction", 0.5}});
  auto got = Collect(*sub, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]->seq, 1u);
  EXPECT_EQ(got[1]->seq, 2u);
  EXPECT_EQ(EventToJson(*got[0]), (nlohmann::json{{"seq", 1},
                                                  {"time_ms", 1234},
                                                  {"kind", "vm"},
                                                  {"action", "created"},
                                                  {"target", "web1"},
                                                  {"data", {{"state", "creating"}}}}));
  EXPECT_EQ(got[1]->kind, "op");
}

TEST(EventBusTest, OnlyEventsAfterSubscribeAndOfTheAskedKinds) {
  FakeClock clock;
  EventBus bus(&clock);
  bus.Publish("vm", "created", "before", {});
  auto sub = bus.Subscribe({"image"});
  EXPECT_EQ(sub->start_seq(), 1u);
  bus.Publish("vm", "changed", "a", {});
  bus.Publish("image", "created", "img", {});
  auto got = Collect(*sub, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->target, "img");
  EXPECT_EQ(got[0]->seq, 3u);
  EXPECT_TRUE(sub->Next(std::stop_token(), milliseconds(0)).empty());
}

TEST(EventBusTest, SlowSubscriberLosesOldestAndIsToldNotThePublisher) {
  FakeClock clock;
  EventBus bus(&clock, /*queue_capacity=*/4);
  auto slow = bus.Subscribe({});
  auto fast = bus.Subscribe({});
  for (int i = 0; i < 10; ++i) bus.Publish("op", "progress", "op-" + std::to_string(i), {});
  auto got = slow->Next(std::stop_token(), milliseconds(0));
  ASSERT_EQ(got.size(), 5u);  // the overflow marker + the newest 4
  EXPECT_EQ(got[0]->kind, kMetaKind);
  EXPECT_EQ(got[0]->action, kOverflowAction);
  EXPECT_EQ(got[0]->data["dropped"], 6);
  EXPECT_EQ(got[1]->target, "op-6");
  EXPECT_EQ(got[4]->target, "op-9");
  // Once told, the next batch is clean.
  bus.Publish("op", "ended", "op-x", {});
  got = slow->Next(std::stop_token(), milliseconds(0));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->target, "op-x");
  EXPECT_EQ(fast->Next(std::stop_token(), milliseconds(0)).front()->kind, kMetaKind);
}

TEST(EventBusTest, StopEndsAWaitingNext) {
  FakeClock clock;
  EventBus bus(&clock);
  auto sub = bus.Subscribe({});
  std::stop_source stop;
  std::thread t([&] { stop.request_stop(); });
  // Would wait for the full minute if the stop were missed.
  auto got = sub->Next(stop.get_token(), std::chrono::minutes(1));
  t.join();
  EXPECT_TRUE(got.empty());
}

TEST(EventBusTest, ManySubscribersEachSeeEveryEventInOrder) {
  FakeClock clock;
  EventBus bus(&clock, 100000);
  constexpr int kSubs = 16, kPublishers = 4, kEach = 500;
  std::vector<std::unique_ptr<Subscription>> subs;
  for (int i = 0; i < kSubs; ++i) subs.push_back(bus.Subscribe({}));
  std::vector<std::thread> pubs;
  for (int p = 0; p < kPublishers; ++p) {
    pubs.emplace_back([&bus, p] {
      for (int i = 0; i < kEach; ++i) bus.Publish("op", "progress", std::to_string(p), {{"i", i}});
    });
  }
  std::vector<std::vector<std::shared_ptr<const Event>>> got(kSubs);
  std::vector<std::thread> readers;
  for (int s = 0; s < kSubs; ++s) {
    readers.emplace_back([&, s] { got[s] = Collect(*subs[s], kPublishers * kEach); });
  }
  for (auto& t : pubs) t.join();
  for (auto& t : readers) t.join();
  for (int s = 0; s < kSubs; ++s) {
    ASSERT_EQ(got[s].size(), static_cast<size_t>(kPublishers * kEach));
    std::vector<int> last(kPublishers, -1);
    for (size_t k = 0; k < got[s].size(); ++k) {
      EXPECT_EQ(got[s][k]->seq, k + 1);  // seq order, no gaps
      int p = std::stoi(got[s][k]->target);
      int i = got[s][k]->data["i"];
      EXPECT_EQ(i, last[p] + 1);  // each publisher's own order kept
      last[p] = i;
    }
  }
}

TEST(EventBusTest, UnsubscribeWhilePublishing) {
  FakeClock clock;
  EventBus bus(&clock, 8);
  std::atomic<bool> done{false};
  std::thread pub([&] {
    while (!done) bus.Publish("vm", "changed", "x", {});
  });
  for (int i = 0; i < 500; ++i) {
    auto sub = bus.Subscribe({});
    (void)sub->Next(std::stop_token(), milliseconds(0));
  }  // each destroyed while the publisher runs
  done = true;
  pub.join();
  EXPECT_EQ(bus.SubscriberCountForTest(), 0u);
}

}  // namespace
}  // namespace warren

#pragma once

// The daemon-wide event bus: VM, op, image and session changes, fanned out to
// subscribers (`events.subscribe`, `warren events`, the web UI's live page).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace warren {

// The kinds publishers use; a subscription may filter on them.
inline constexpr std::string_view kEventKinds[] = {"vm", "op", "image", "session"};
// A subscriber's queue overflowed: `data.dropped` events before this one were lost,
// so a client should re-list what it shows.
inline constexpr std::string_view kMetaKind = "meta";
inline constexpr std::string_view kOverflowAction = "overflow";

struct Event {
  uint64_t seq = 0;  // 1, 2, ... in publish order, daemon-wide; 0 for meta events
  int64_t time_ms = 0;
  std::string kind, action, target;
  nlohmann::json data;
};
// {"seq", "time_ms", "kind", "action", "target", "data"}: the `event` notification's params.
nlohmann::json EventToJson(const Event& event);

class EventBus;

// One subscriber's queue. Destroying it unsubscribes (safe while others publish).
// Thread-safety: Next() from one thread at a time; destruction must not race Next().
class Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Blocks until events are queued, `stop` fires or `timeout` passes; returns
  // what is queued, oldest first (empty on stop or timeout). After an overflow
  // the batch starts with a meta "overflow" event. Waiting holds only the
  // bus's lock's condition, so delivery (e.g. a socket write) happens on the
  // caller's thread, after Next returns, with no lock held.
  std::vector<std::shared_ptr<const Event>> Next(std::stop_token stop,
                                                 std::chrono::milliseconds timeout);
  // The seq of the last event published before this subscription began.
  uint64_t start_seq() const { return start_seq_; }

 private:
  friend class EventBus;
  Subscription(EventBus* bus, uint64_t id, uint64_t start_seq)
      : bus_(bus), id_(id), start_seq_(start_seq) {}
  EventBus* const bus_;
  const uint64_t id_;
  const uint64_t start_seq_;
};

// Publishers never block: each subscriber has a bounded queue, and a slow one
// loses its oldest events (and is told so by a meta overflow event) instead of
// holding anyone up.
//
// Thread-safety: thread-safe. One leaf lock guards the sequence counter and
// every queue; Publish holds it only to append (no I/O, no callbacks), so it
// may be called from under any non-leaf lock (a VM's lock, imageOpsMu) but not
// while the caller holds a leaf lock of its own. Must outlive its subscriptions.
class EventBus {
 public:
  static constexpr size_t kDefaultQueueCapacity = 1024;
  // `clock` must outlive the bus.
  explicit EventBus(Clock* clock, size_t queue_capacity = kDefaultQueueCapacity);
  ~EventBus();  // CHECKs no subscription is left
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  void Publish(std::string_view kind, std::string_view action, std::string_view target,
               nlohmann::json data) EXCLUDES(mu_);
  // `kinds` empty = every kind. Events published after this returns are delivered.
  std::unique_ptr<Subscription> Subscribe(std::set<std::string> kinds) EXCLUDES(mu_);

  size_t SubscriberCountForTest() EXCLUDES(mu_);

 private:
  friend class Subscription;
  struct Queue {
    explicit Queue(Mutex* mu, std::set<std::string> k) : kinds(std::move(k)), ready(mu) {}
    const std::set<std::string> kinds;
    // Both guarded by the bus's mu_.
    std::deque<std::shared_ptr<const Event>> events;  // at most capacity_
    uint64_t dropped = 0;                             // lost since the last Next
    CondVar ready;
  };
  void Unsubscribe(uint64_t id) EXCLUDES(mu_);
  std::vector<std::shared_ptr<const Event>> Next(uint64_t id, std::stop_token stop,
                                                 std::chrono::milliseconds timeout) EXCLUDES(mu_);

  Clock* const clock_;
  const size_t capacity_;

  Mutex mu_{LockRank::kLeaf, "event bus"};
  uint64_t next_seq_ GUARDED_BY(mu_) = 1;
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::unique_ptr<Queue>> queues_ GUARDED_BY(mu_);
};

}  // namespace warren

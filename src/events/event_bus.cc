#include "events/event_bus.h"

#include "base/check.h"

namespace warren {

using nlohmann::json;

json EventToJson(const Event& e) {
  return {{"seq", e.seq},       {"time_ms", e.time_ms}, {"kind", e.kind},
          {"action", e.action}, {"target", e.target},   {"data", e.data}};
}

Subscription::~Subscription() { bus_->Unsubscribe(id_); }

std::vector<std::shared_ptr<const Event>> Subscription::Next(std::stop_token stop,
                                                             std::chrono::milliseconds timeout) {
  return bus_->Next(id_, std::move(stop), timeout);
}

EventBus::EventBus(Clock* clock, size_t queue_capacity) : clock_(clock), capacity_(queue_capacity) {
  CHECK(clock_ != nullptr);
  CHECK(capacity_ > 0);
}

EventBus::~EventBus() {
  MutexLock lock(&mu_);
  CHECK(queues_.empty());  // a subscription outlived its bus
}

void EventBus::Publish(std::string_view kind, std::string_view action, std::string_view target,
                       json data) {
  auto event = std::make_shared<Event>();
  event->time_ms = clock_->NowUnixMillis();
  event->kind = kind;
  event->action = action;
  event->target = target;
  event->data = std::move(data);
  MutexLock lock(&mu_);
  // The seq is taken under the same lock as the appends, so every queue sees
  // events in seq order.
  event->seq = next_seq_++;
  std::shared_ptr<const Event> shared = std::move(event);
  for (auto& [id, q] : queues_) {
    if (!q->kinds.empty() && !q->kinds.contains(shared->kind)) continue;
    if (q->events.size() >= capacity_) {
      q->events.pop_front();
      ++q->dropped;
    }
    q->events.push_back(shared);
    q->ready.Signal();
  }
}

std::unique_ptr<Subscription> EventBus::Subscribe(std::set<std::string> kinds) {
  MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  queues_.emplace(id, std::make_unique<Queue>(&mu_, std::move(kinds)));
  return std::unique_ptr<Subscription>(new Subscription(this, id, next_seq_ - 1));
}

void EventBus::Unsubscribe(uint64_t id) {
  MutexLock lock(&mu_);
  queues_.erase(id);
}

std::vector<std::shared_ptr<const Event>> EventBus::Next(uint64_t id, std::stop_token stop,
                                                         std::chrono::milliseconds timeout) {
  // The stop callback runs on whichever thread requests stop, which may hold a
  // leaf lock of its own (the RPC connection's): it signals without taking
  // mu_, and the bounded wait below covers a wakeup lost in between.
  constexpr std::chrono::milliseconds kStopPoll{100};
  std::vector<std::shared_ptr<const Event>> out;
  MutexLock lock(&mu_);
  auto it = queues_.find(id);
  CHECK(it != queues_.end());
  Queue& q = *it->second;
  std::stop_callback wake(stop, [&q] { q.ready.SignalAll(); });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (q.events.empty() && q.dropped == 0 && !stop.stop_requested()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds::zero()) break;
    q.ready.WaitFor(&mu_, std::min(left, kStopPoll));
  }
  if (stop.stop_requested()) return out;
  if (q.dropped > 0) {
    auto meta = std::make_shared<Event>();
    meta->time_ms = clock_->NowUnixMillis();
    meta->kind = kMetaKind;
    meta->action = kOverflowAction;
    meta->data = {{"dropped", q.dropped}};
    out.push_back(std::move(meta));
    q.dropped = 0;
  }
  out.insert(out.end(), q.events.begin(), q.events.end());
  q.events.clear();
  return out;
}

size_t EventBus::SubscriberCountForTest() {
  MutexLock lock(&mu_);
  return queues_.size();
}

}  // namespace warren

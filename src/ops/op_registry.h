#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "metrics/histogram.h"
#include "store/store.h"

namespace warren {

enum class OpState { kRunning, kSucceeded, kFailed, kCancelled };
std::string_view OpStateName(OpState);  // "running", "succeeded", "failed", "cancelled"

struct OpInfo {
  std::string id, kind, target;
  OpState state = OpState::kRunning;
  std::string step;
  double fraction = 0;
  int64_t started_ms = 0, ended_ms = 0;
  std::string error;
  nlohmann::json result;
};
// Stable field names: id, kind, target, state, step, fraction, started_ms, ended_ms, error, result.
nlohmann::json OpInfoToJson(const OpInfo&);

class OpRegistry;

// Told of every op's start ("started"), progress change ("progress") and end
// ("ended"), with the op as it is then. Called with no registry lock held, on the
// thread that made the change; must be quick (the daemon publishes to its event bus).
using OpObserver = std::function<void(std::string_view action, const OpInfo& op)>;

// Handed to an op body; valid only while the body runs. Progress and Log may be
// called from any thread the body uses, but store writes for a step change happen
// on the calling thread, so call them from one thread to keep the store in order.
class OpContext {
 public:
  // `fraction` is clamped to 0..1 (NaN counts as 0). A new `step` is persisted.
  void Progress(std::string step, double fraction);
  // One line of output (e.g. a build log); waiters can stream it. Not persisted.
  void Log(std::string line);
  // Fires on Cancel or Shutdown; a body should return Cancelled soon after.
  std::stop_token stop() const { return stop_; }

 private:
  friend class OpRegistry;
  OpContext(OpRegistry* registry, std::string id, std::stop_token stop)
      : registry_(registry), id_(std::move(id)), stop_(std::move(stop)) {}
  OpRegistry* const registry_;
  const std::string id_;
  const std::stop_token stop_;
};

// Tracks long operations (VM creates, image builds): each runs its body on its own
// thread, reports progress and log lines, and can be waited on and cancelled.
// Every state change and new step is written through the Store (outside the lock),
// so `op ls` survives restarts; ops still "running" in the store when a registry
// is constructed are marked failed ("interrupted: daemon restarted").
// Memory keeps every running op plus the last kMaxFinished finished ones.
//
// Thread-safety: thread-safe. One leaf lock `mu_` guards the in-memory table; it
// is never held while running a body, writing the store or calling on_event.
class OpRegistry {
 public:
  static constexpr size_t kMaxFinished = 200;
  // Events kept per running op for late waiters; older ones are dropped.
  static constexpr size_t kMaxEvents = 2048;

  // `store` and `clock` must outlive the registry; `observer` may be empty.
  OpRegistry(Store* store, Clock* clock, OpObserver observer = {});
  ~OpRegistry();  // CHECKs that Shutdown() was called if ops ran
  OpRegistry(const OpRegistry&) = delete;
  OpRegistry& operator=(const OpRegistry&) = delete;

  using Body = std::function<Result<nlohmann::json>(OpContext&)>;
  // Starts `body` on its own thread and returns the op id ("op-" + short random hex). A body
  // returning Cancelled (or any error after stop was requested) ends as kCancelled; other errors as
  // kFailed. FailedPrecondition after Shutdown; the store's error if the op cannot be recorded.
  Result<std::string> Start(std::string kind, std::string target, Body body) EXCLUDES(mu_);
  // Oldest first.
  std::vector<OpInfo> List() const EXCLUDES(mu_);
  // Falls back to the store for ops evicted from memory. NotFound names the id and
  // suggests `warren op ls`.
  Result<OpInfo> Get(std::string_view id) const EXCLUDES(mu_);
  // Blocks until the op ends or `stop` fires (→ Cancelled status). `on_event` gets every progress
  // change and log line in order (no lock held while calling it). Returns the final OpInfo. A
  // waiter that attaches late first replays the events still kept (at most kMaxEvents); the last
  // event carries the final state. An op that had already ended returns at once with no events.
  Result<OpInfo> Wait(
      std::string_view id, std::stop_token stop,
      const std::function<void(const OpInfo&, const std::string* log_line)>& on_event)
      EXCLUDES(mu_);
  // Requests stop (the body's stop callbacks run on this thread); returns before the
  // op ends. FailedPrecondition if already ended, NotFound for an unknown id.
  Status Cancel(std::string_view id) EXCLUDES(mu_);
  // Requests stop on every running op and joins all threads. Used by Daemon::Close;
  // blocks for as long as a body ignores its stop token. Start fails afterwards.
  void Shutdown() EXCLUDES(mu_);

  // Ops ended since construction by kind and final state, with how long they
  // ran (clock time, start to end), and the ops running now: for /metrics.
  struct EndedStats {
    std::string kind;
    OpState state;
    metrics::HistogramData duration;
  };
  std::vector<EndedStats> Ended() const EXCLUDES(mu_);
  int64_t RunningCount() const EXCLUDES(mu_);

 private:
  friend class OpContext;
  struct Event {
    OpInfo info;
    std::optional<std::string> log_line;
  };
  // A running op's event stream; shared with waiters so they can drain it after
  // the op ends and the entry lets go of it. Fields guarded by mu_.
  struct EventLog {
    std::deque<Event> events;
    uint64_t first_seq = 0;  // sequence number of events.front()
  };
  // Fields guarded by mu_, except `stop`, which is set at creation and is itself
  // thread-safe (copies share one stop state).
  struct Entry {
    OpInfo info;
    uint64_t order = 0;
    std::stop_source stop;
    std::shared_ptr<EventLog> log;  // null once the op ended
  };

  void Run(std::shared_ptr<Entry> entry, Body body) EXCLUDES(mu_);
  void UpdateProgress(const std::string& id, std::string step, double fraction) EXCLUDES(mu_);
  void AppendLog(const std::string& id, std::string line) EXCLUDES(mu_);
  void PushEventLocked(Entry& entry, std::optional<std::string> line) REQUIRES(mu_);
  void EvictFinishedLocked() REQUIRES(mu_);
  // Sleeps on changed_ for at most kWaitPoll (a backstop; see the .cc).
  void Persist(const OpInfo& info);
  void Notify(std::string_view action, const OpInfo& info) EXCLUDES(mu_);
  void LoadFromStore() EXCLUDES(mu_);
  std::string NewIdLocked() REQUIRES(mu_);
  void JoinFinishedThreads() EXCLUDES(mu_);

  // Immutable after construction.
  Store* const store_;
  Clock* const clock_;
  const OpObserver observer_;

  mutable Mutex mu_{LockRank::kLeaf, "op_registry"};
  CondVar changed_{&mu_};  // signalled on every event
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> ops_ GUARDED_BY(mu_);
  std::map<std::string, std::thread, std::less<>> threads_ GUARDED_BY(mu_);  // by op id
  std::vector<std::string> finished_threads_ GUARDED_BY(mu_);  // ids whose body returned
  uint64_t next_order_ GUARDED_BY(mu_) = 0;
  bool shut_down_ GUARDED_BY(mu_) = false;
  bool ran_ops_ GUARDED_BY(mu_) = false;
  std::map<std::pair<std::string, OpState>, std::unique_ptr<metrics::Histogram>> ended_
      GUARDED_BY(mu_);
  std::mt19937_64 rng_ GUARDED_BY(mu_);
};

}  // namespace warren

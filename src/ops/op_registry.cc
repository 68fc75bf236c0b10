#include "ops/op_registry.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>

namespace warren {
namespace {

constexpr std::string_view kInterrupted = "interrupted: daemon restarted";
// Backstop for a stop request whose wake-up raced a waiter going to sleep (the
// stop callback cannot take mu_: whoever requests stop may hold another leaf).
constexpr std::chrono::milliseconds kWaitPoll{200};

OpState OpStateFromName(std::string_view name) {
  if (name == "succeeded") return OpState::kSucceeded;
  if (name == "cancelled") return OpState::kCancelled;
  if (name == "running") return OpState::kRunning;
  return OpState::kFailed;
}

OpRecord ToRecord(const OpInfo& info) {
  return OpRecord{
      info.id,    info.kind,         info.target,     std::string(OpStateName(info.state)),
      info.step,  info.fraction,     info.started_ms, info.ended_ms,
      info.error, info.result.dump()};
}

OpInfo FromRecord(const OpRecord& r) {
  nlohmann::json result = nlohmann::json::parse(r.result_json, nullptr, /*allow_exceptions=*/false);
  if (result.is_discarded()) result = nullptr;
  return OpInfo{r.id,         r.kind,     r.target, OpStateFromName(r.state), r.step, r.fraction,
                r.started_ms, r.ended_ms, r.error,  std::move(result)};
}

std::string NotFoundMessage(std::string_view id) {
  return fmt::format("op \"{}\" not found; list ops with `warren op ls`", id);
}

}  // namespace

std::string_view OpStateName(OpState state) {
  switch (state) {
    case OpState::kRunning:
      return "running";
    case OpState::kSucceeded:
      return "succeeded";
    case OpState::kFailed:
      return "failed";
    case OpState::kCancelled:
      return "cancelled";
  }
  return "failed";
}

nlohmann::json OpInfoToJson(const OpInfo& info) {
  return {{"id", info.id},
          {"kind", info.kind},
          {"target", info.target},
          {"state", OpStateName(info.state)},
          {"step", info.step},
          {"fraction", info.fraction},
          {"started_ms", info.started_ms},
          {"ended_ms", info.ended_ms},
          {"error", info.error},
          {"result", info.result}};
}

// ---- OpContext ----

void OpContext::Progress(std::string step, double fraction) {
  if (!(fraction >= 0)) fraction = 0;  // also NaN
  if (fraction > 1) fraction = 1;
  registry_->UpdateProgress(id_, std::move(step), fraction);
}

void OpContext::Log(std::string line) { registry_->AppendLog(id_, std::move(line)); }

// ---- OpRegistry ----

OpRegistry::OpRegistry(Store* store, Clock* clock, OpObserver observer)
    : store_(store), clock_(clock), observer_(std::move(observer)), rng_(std::random_device{}()) {
  Status st = store_->MarkInterruptedOps(kInterrupted, clock_->NowUnixMillis());
  if (!st.ok()) spdlog::warn("op registry: cannot mark interrupted ops: {}", st.ToString());
  LoadFromStore();
}

OpRegistry::~OpRegistry() {
  MutexLock lock(&mu_);
  CHECK(shut_down_ || !ran_ops_);  // Daemon::Close must call Shutdown() first
  CHECK(threads_.empty());
}

void OpRegistry::LoadFromStore() {
  Result<std::vector<OpRecord>> records = store_->ListOps();
  if (!records.ok()) {
    spdlog::warn("op registry: cannot load past ops: {}", records.status().ToString());
    return;
  }
  size_t skip = records->size() > kMaxFinished ? records->size() - kMaxFinished : 0;
  MutexLock lock(&mu_);
  for (size_t i = skip; i < records->size(); ++i) {
    auto entry = std::make_shared<Entry>();
    entry->info = FromRecord((*records)[i]);
    if (entry->info.state == OpState::kRunning) {  // MarkInterruptedOps failed above
      entry->info.state = OpState::kFailed;
      entry->info.error = kInterrupted;
    }
    entry->order = next_order_++;
    ops_[entry->info.id] = std::move(entry);
  }
}

std::string OpRegistry::NewIdLocked() {
  while (true) {
    std::string id = fmt::format("op-{:012x}", rng_() & 0xffffffffffffULL);
    if (ops_.find(id) == ops_.end()) return id;
  }
}

Result<std::string> OpRegistry::Start(std::string kind, std::string target, Body body) {
  CHECK(body != nullptr);
  JoinFinishedThreads();
  OpInfo info;
  info.kind = std::move(kind);
  info.target = std::move(target);
  info.started_ms = clock_->NowUnixMillis();
  {
    MutexLock lock(&mu_);
    if (shut_down_) return FailedPrecondition("warren is shutting down; op not started");
    info.id = NewIdLocked();
  }
  // Recorded before it runs, so a crash mid-op leaves a row to mark interrupted.
  RETURN_IF_ERROR(store_->PutOp(ToRecord(info)).Annotate("op " + info.id + " not started"));

  // Before the body can run, so "started" precedes its progress.
  Notify("started", info);
  auto entry = std::make_shared<Entry>();
  entry->info = info;
  entry->log = std::make_shared<EventLog>();
  {
    MutexLock lock(&mu_);
    if (!shut_down_) {
      entry->order = next_order_++;
      ops_[info.id] = entry;
      ran_ops_ = true;
      threads_.emplace(info.id, std::thread(&OpRegistry::Run, this, entry, std::move(body)));
      return info.id;
    }
  }
  // Shutdown began while the row was written: record that it never ran.
  info.state = OpState::kCancelled;
  info.error = "warren shut down before the op started";
  info.ended_ms = clock_->NowUnixMillis();
  Persist(info);
  Notify("ended", info);
  return FailedPrecondition("warren is shutting down; op not started");
}

void OpRegistry::Run(std::shared_ptr<Entry> entry, Body body) {
  OpContext ctx(this, entry->info.id, entry->stop.get_token());
  Result<nlohmann::json> result = [&]() -> Result<nlohmann::json> {
    try {
      return body(ctx);
    } catch (const std::exception& e) {  // a body should not throw; do not lose the op
      return Internal(std::string("op body threw: ") + e.what());
    }
  }();
  const bool stop_requested = entry->stop.stop_requested();
  const int64_t now = clock_->NowUnixMillis();

  OpInfo final_info;
  {
    MutexLock lock(&mu_);
    final_info = entry->info;
  }
  final_info.ended_ms = now;
  if (result.ok()) {
    final_info.state = OpState::kSucceeded;
    final_info.fraction = 1;
    final_info.result = std::move(result).value();
  } else {
    const Status& err = result.error();
    final_info.state =
        (err.code() == Code::kCancelled || stop_requested) ? OpState::kCancelled : OpState::kFailed;
    final_info.error = err.message();
  }
  // Persisted before it becomes visible, so whoever sees the op end also finds
  // the final row in the store.
  Persist(final_info);
  {
    MutexLock lock(&mu_);
    entry->info = final_info;
    PushEventLocked(*entry, std::nullopt);
    entry->log.reset();
    finished_threads_.push_back(entry->info.id);
    auto& h = ended_[{final_info.kind, final_info.state}];
    if (!h) h = std::make_unique<metrics::Histogram>(metrics::kOpSecondsBounds);
    h->Observe(static_cast<double>(final_info.ended_ms - final_info.started_ms) / 1000.0);
    EvictFinishedLocked();
  }
  // After the op is visible as ended, so an observer's reader finds it so.
  Notify("ended", final_info);
}

std::vector<OpRegistry::EndedStats> OpRegistry::Ended() const {
  MutexLock lock(&mu_);
  std::vector<EndedStats> out;
  for (const auto& [key, h] : ended_) out.push_back({key.first, key.second, h->Snapshot()});
  return out;
}

int64_t OpRegistry::RunningCount() const {
  MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [id, e] : ops_) n += e->info.state == OpState::kRunning ? 1 : 0;
  return n;
}

void OpRegistry::UpdateProgress(const std::string& id, std::string step, double fraction) {
  OpInfo snapshot;
  bool step_changed = false;
  {
    MutexLock lock(&mu_);
    auto it = ops_.find(id);
    if (it == ops_.end() || it->second->info.state != OpState::kRunning) return;
    Entry& e = *it->second;
    step_changed = e.info.step != step;
    e.info.step = std::move(step);
    e.info.fraction = fraction;
    PushEventLocked(e, std::nullopt);
    snapshot = e.info;
  }
  if (step_changed) Persist(snapshot);  // only new steps: fractions change too often to write each
  Notify("progress", snapshot);
}

void OpRegistry::Notify(std::string_view action, const OpInfo& info) {
  if (observer_) observer_(action, info);
}

void OpRegistry::AppendLog(const std::string& id, std::string line) {
  MutexLock lock(&mu_);
  auto it = ops_.find(id);
  if (it == ops_.end() || it->second->info.state != OpState::kRunning) return;
  PushEventLocked(*it->second, std::move(line));
}

void OpRegistry::PushEventLocked(Entry& entry, std::optional<std::string> line) {
  if (!entry.log) return;
  EventLog& log = *entry.log;
  log.events.push_back(Event{entry.info, std::move(line)});
  if (log.events.size() > kMaxEvents) {
    log.events.pop_front();
    ++log.first_seq;
  }
  changed_.SignalAll();
}

void OpRegistry::EvictFinishedLocked() {
  size_t finished = 0;
  for (const auto& [id, e] : ops_) finished += e->info.state != OpState::kRunning;
  while (finished > kMaxFinished) {
    auto oldest = ops_.end();
    for (auto it = ops_.begin(); it != ops_.end(); ++it) {
      if (it->second->info.state == OpState::kRunning) continue;
      if (oldest == ops_.end() || it->second->order < oldest->second->order) oldest = it;
    }
    ops_.erase(oldest);
    --finished;
  }
}

void OpRegistry::Persist(const OpInfo& info) {
  Status st = store_->PutOp(ToRecord(info));
  if (!st.ok()) spdlog::warn("op {}: cannot record state: {}", info.id, st.ToString());
}

std::vector<OpInfo> OpRegistry::List() const {
  std::vector<std::pair<uint64_t, OpInfo>> ordered;
  {
    MutexLock lock(&mu_);
    for (const auto& [id, e] : ops_) ordered.emplace_back(e->order, e->info);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<OpInfo> out;
  out.reserve(ordered.size());
  for (auto& [order, info] : ordered) out.push_back(std::move(info));
  return out;
}

Result<OpInfo> OpRegistry::Get(std::string_view id) const {
  {
    MutexLock lock(&mu_);
    auto it = ops_.find(id);
    if (it != ops_.end()) return it->second->info;
  }
  // Evicted from memory but maybe still in the store.
  Result<OpRecord> record = store_->GetOp(id);
  if (record.ok()) return FromRecord(*record);
  if (record.error().code() == Code::kNotFound) return NotFound(NotFoundMessage(id));
  return record.error();
}

Result<OpInfo> OpRegistry::Wait(
    std::string_view id, std::stop_token stop,
    const std::function<void(const OpInfo&, const std::string* log_line)>& on_event) {
  std::shared_ptr<Entry> entry;
  std::shared_ptr<EventLog> log;
  uint64_t next = 0;
  {
    MutexLock lock(&mu_);
    auto it = ops_.find(id);
    if (it != ops_.end()) {
      entry = it->second;
      if (!entry->log) return entry->info;
      log = entry->log;
      next = log->first_seq;
    }
  }
  if (!entry) return Get(id);  // evicted from memory: the store may still know it
  std::stop_callback wake(stop, [this] { changed_.SignalAll(); });
  while (true) {
    std::vector<Event> batch;
    OpInfo latest;
    bool ended;
    {
      MutexLock lock(&mu_);
      while (true) {
        next = std::max(next, log->first_seq);  // skip events dropped while we were slow
        ended = entry->info.state != OpState::kRunning;
        if (next < log->first_seq + log->events.size() || ended || stop.stop_requested()) break;
        changed_.WaitFor(&mu_, kWaitPoll);
      }
      batch.assign(log->events.begin() + (next - log->first_seq), log->events.end());
      next += batch.size();
      latest = entry->info;
    }
    for (const Event& ev : batch) {
      if (on_event) on_event(ev.info, ev.log_line ? &*ev.log_line : nullptr);
    }
    // The final event is pushed under the same lock hold that ends the op, so a
    // batch copied after seeing the end already contains it.
    if (ended) return latest;
    if (stop.stop_requested()) {
      return Cancelled(fmt::format("stopped waiting for op \"{}\"; it keeps running", id));
    }
  }
}

Status OpRegistry::Cancel(std::string_view id) {
  std::optional<std::stop_source> stop;
  {
    MutexLock lock(&mu_);
    auto it = ops_.find(id);
    if (it != ops_.end() && it->second->info.state == OpState::kRunning) stop = it->second->stop;
  }
  if (!stop) {
    Result<OpInfo> info = Get(id);  // ended (maybe evicted): say how, or NotFound
    if (!info.ok()) return info.error();
    return FailedPrecondition(
        fmt::format("op \"{}\" already {}; nothing to cancel", id, OpStateName(info->state)));
  }
  // Outside the lock: the body's stop callbacks run here and may do anything.
  stop->request_stop();
  return Status::Ok();
}

void OpRegistry::JoinFinishedThreads() {
  std::vector<std::thread> done;
  {
    MutexLock lock(&mu_);
    for (const std::string& id : finished_threads_) {
      auto it = threads_.find(id);
      if (it == threads_.end()) continue;
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    finished_threads_.clear();
  }
  for (std::thread& t : done) t.join();  // each has at most its final unlock left to run
}

void OpRegistry::Shutdown() {
  std::vector<std::stop_source> running;
  std::map<std::string, std::thread, std::less<>> threads;
  {
    MutexLock lock(&mu_);
    shut_down_ = true;
    for (const auto& [id, e] : ops_) {
      if (e->info.state == OpState::kRunning) running.push_back(e->stop);
    }
    threads.swap(threads_);
    finished_threads_.clear();
  }
  for (std::stop_source& s : running) s.request_stop();
  for (auto& [id, t] : threads) t.join();
}

}  // namespace warren

#include "session/session_registry.h"

#include <algorithm>
#include <atomic>
#include <latch>
#include <cstdio>
#include <random>
#include <thread>

namespace warren {

// ---- DetachedSession ----

// One detached session: a thread moves its process's output into the
// scrollback and every attacher's queue. See SessionRegistry for the locks.
class DetachedSession {
 public:
  DetachedSession(SessionInfo info, std::shared_ptr<GuestProcess> proc, Clock* clock,
                  const SessionOptions& options)
      : id_(info.id), name_(info.name), vm_(info.vm), proc_(std::move(proc)), clock_(clock),
        options_(options), info_(std::move(info)) {
    thread_ = std::thread([this] { Pump(); });
  }
  ~DetachedSession() {
    Release();
    proc_->Terminate();
    thread_.join();
  }
  DetachedSession(const DetachedSession&) = delete;
  DetachedSession& operator=(const DetachedSession&) = delete;

  const std::string& id() const { return id_; }
  const std::string& name() const { return name_; }
  const std::string& vm() const { return vm_; }
  GuestProcess& proc() { return *proc_; }

  SessionInfo Info() EXCLUDES(attach_mu_) {
    MutexLock lock(&attach_mu_);
    SessionInfo i = info_;
    i.attached = static_cast<int>(attachers_.size());
    return i;
  }
  bool ended() EXCLUDES(attach_mu_) {
    MutexLock lock(&attach_mu_);
    return info_.state != "running";
  }
  void MarkKilled() EXCLUDES(attach_mu_) {
    MutexLock lock(&attach_mu_);
    killed_ = true;
  }

  // Start calls this once the registry's lock is released: "created" is
  // published before anything else of this session (an attach, its "ended").
  void Begin() {
    Notify("created");
    Release();
  }

  int AddAttacher(bool scrollback) EXCLUDES(attach_mu_) {
    int key = 0;
    {
      MutexLock lock(&attach_mu_);
      key = next_key_++;
      Queue& q = attachers_[key];
      if (scrollback) q.bytes = scrollback_;
    }
    Notify("changed");
    return key;
  }
  void RemoveAttacher(int key) EXCLUDES(attach_mu_) {
    {
      MutexLock lock(&attach_mu_);
      attachers_.erase(key);
    }
    Notify("changed");
  }
  std::string Scrollback() EXCLUDES(attach_mu_) {
    MutexLock lock(&attach_mu_);
    return scrollback_;
  }

  Attachment::Chunk Next(int key, std::stop_token stop) EXCLUDES(attach_mu_) {
    std::stop_callback on_stop(stop, [this] { cv_.SignalAll(); });  // no lock: see GuestProcess::Next
    MutexLock lock(&attach_mu_);
    Attachment::Chunk c;
    while (!stop.stop_requested()) {
      auto it = attachers_.find(key);
      if (it == attachers_.end()) return c;
      Queue& q = it->second;
      if (q.dropped > 0) {
        c.bytes = "\r\n[warren: " + std::to_string(q.dropped) +
                  " bytes of output dropped: this client read too slowly]\r\n";
        q.dropped = 0;
      }
      c.bytes += std::move(q.bytes);
      q.bytes.clear();
      if (!c.bytes.empty()) return c;
      if (info_.state != "running") {
        c.ended = true;
        return c;
      }
      cv_.WaitFor(&attach_mu_, std::chrono::milliseconds(200));
    }
    return c;
  }

 private:
  struct Queue {
    std::string bytes;
    uint64_t dropped = 0;
  };

  // Outside attach_mu_ (a leaf: the observer publishes under a leaf of its own).
  void Notify(std::string_view action) EXCLUDES(attach_mu_) {
    if (options_.on_change) options_.on_change(action, Info());
  }

  void Pump() {
    begun_.wait();  // Begin() published "created"
    while (!PumpOnce()) {
    }
    Notify("ended");
  }

  // Moves one update into the scrollback and queues; true once the process ended.
  bool PumpOnce() EXCLUDES(attach_mu_) {
    ProcessUpdate u = proc_->Next(std::stop_token());
    std::string bytes = std::move(u.out);
    bytes += u.err;  // one terminal-like stream (a PTY merges them anyway)
    MutexLock lock(&attach_mu_);
    if (!bytes.empty()) Append(bytes);
    if (!u.ended) return false;
    info_.ended_ms = clock_->NowUnixMillis();
    info_.exit_code = u.exit_code;
    if (killed_) {
      info_.state = "killed";
    } else if (!u.error.ok()) {
      info_.state = "lost";
      info_.error = u.error.message();
    } else {
      info_.state = u.exit_code ? "exited" : "killed";
    }
    cv_.SignalAll();
    return true;
  }

  void Append(const std::string& bytes) REQUIRES(attach_mu_) {
    info_.output_bytes += bytes.size();
    scrollback_ += bytes;
    // Trimmed in steps so appends stay amortized O(n).
    if (scrollback_.size() > options_.scrollback_bytes + options_.scrollback_bytes / 4) {
      scrollback_.erase(0, scrollback_.size() - options_.scrollback_bytes);
    }
    size_t cap = options_.scrollback_bytes + options_.attacher_queue_bytes;
    for (auto& [key, q] : attachers_) {
      if (q.dropped > 0 || q.bytes.size() + bytes.size() > cap) {
        q.dropped += bytes.size();
      } else {
        q.bytes += bytes;
      }
    }
    cv_.SignalAll();
  }

  // Immutable after construction.
  const std::string id_, name_, vm_;
  const std::shared_ptr<GuestProcess> proc_;
  Clock* const clock_;
  const SessionOptions options_;

  Mutex attach_mu_{LockRank::kLeaf, "session attachMu"};
  CondVar cv_{&attach_mu_};
  SessionInfo info_ GUARDED_BY(attach_mu_);
  std::string scrollback_ GUARDED_BY(attach_mu_);
  std::map<int, Queue> attachers_ GUARDED_BY(attach_mu_);
  int next_key_ GUARDED_BY(attach_mu_) = 1;
  bool killed_ GUARDED_BY(attach_mu_) = false;

  void Release() {
    if (!released_.exchange(true)) begun_.count_down();
  }
  std::latch begun_{1};
  std::atomic<bool> released_{false};
  std::thread thread_;  // last: started once everything above exists
};

// ---- Attachment ----

Attachment::Attachment(std::shared_ptr<DetachedSession> session, int key)
    : session_(std::move(session)), key_(key) {}
Attachment::~Attachment() { session_->RemoveAttacher(key_); }
Attachment::Chunk Attachment::Next(std::stop_token stop) { return session_->Next(key_, stop); }
Status Attachment::Write(std::string_view bytes) {
  Status s = session_->proc().Write(bytes);
  if (s.code() == Code::kFailedPrecondition) {
    return FailedPrecondition("session " + session_->id() + " has ended");
  }
  return s;
}
void Attachment::Resize(int cols, int rows) { session_->proc().Resize(cols, rows); }
SessionInfo Attachment::Info() { return session_->Info(); }

// ---- SessionRegistry ----

SessionRegistry::SessionRegistry(GuestDialer* dialer, EndpointResolver resolve, Clock* clock,
                                 SessionOptions options)
    : clock_(clock),
      options_(options),
      links_(std::make_unique<GuestLinks>(dialer, std::move(resolve))) {}

SessionRegistry::~SessionRegistry() {
  links_.reset();  // ends every process, so the session threads return
  std::map<std::string, std::shared_ptr<DetachedSession>> sessions;
  {
    MutexLock lock(&mu_);
    sessions.swap(sessions_);
  }
  sessions.clear();  // joins
}

std::string SessionRegistry::NewIdLocked() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[16];
  std::snprintf(buf, sizeof(buf), "s%llx%04llx", static_cast<unsigned long long>(next_seq_++),
                static_cast<unsigned long long>(rng() & 0xffff));
  return buf;
}

Result<SessionInfo> SessionRegistry::Start(const std::string& vm, const std::string& name,
                                           const ExecSpec& spec) {
  if (!name.empty()) {
    if (Find(name).ok()) {
      return AlreadyExists("a session named " + name + " already exists; pick another --name " +
                           "or `warren session kill " + name + "` first");
    }
  }
  // Make room first: ended sessions beyond the cap are forgotten, oldest first.
  std::vector<SessionInfo> all = List("");
  if (all.size() >= options_.max_sessions) {
    const SessionInfo* victim = nullptr;
    for (const SessionInfo& i : all) {
      if (i.state != "running") {
        victim = &i;
        break;
      }
    }
    if (victim == nullptr) {
      return ResourceExhausted("already " + std::to_string(all.size()) +
                               " sessions running; kill some with `warren session kill ID`");
    }
    std::shared_ptr<DetachedSession> gone;
    MutexLock lock(&mu_);
    if (auto it = sessions_.find(victim->id); it != sessions_.end()) {
      gone = std::move(it->second);
      sessions_.erase(it);
    }
  }
  ASSIGN_OR_RETURN(std::shared_ptr<GuestProcess> proc, links_->Start(vm, spec));
  SessionInfo info;
  info.name = name;
  info.vm = vm;
  info.argv = spec.argv;
  info.tty = spec.tty;
  info.state = "running";
  info.started_ms = clock_->NowUnixMillis();
  std::shared_ptr<DetachedSession> session;
  {
    MutexLock lock(&mu_);
    bool taken = false;
    for (auto& [id, s] : sessions_) taken = taken || (!name.empty() && s->name() == name);
    if (!taken) {
      info.id = NewIdLocked();
      session = std::make_shared<DetachedSession>(info, proc, clock_, options_);
      sessions_[info.id] = session;
    }
  }
  if (!session) {
    proc->Terminate();
    return AlreadyExists("a session named " + name + " already exists");
  }
  session->Begin();
  return session->Info();
}

std::vector<SessionInfo> SessionRegistry::List(const std::string& vm) {
  std::vector<std::shared_ptr<DetachedSession>> all;
  {
    MutexLock lock(&mu_);
    for (auto& [id, s] : sessions_) {
      if (vm.empty() || s->vm() == vm) all.push_back(s);
    }
  }
  std::vector<SessionInfo> out;
  for (auto& s : all) out.push_back(s->Info());
  std::sort(out.begin(), out.end(), [](const SessionInfo& a, const SessionInfo& b) {
    return a.started_ms != b.started_ms ? a.started_ms < b.started_ms : a.id < b.id;
  });
  return out;
}

Result<std::shared_ptr<DetachedSession>> SessionRegistry::Find(const std::string& id_or_name) {
  MutexLock lock(&mu_);
  if (auto it = sessions_.find(id_or_name); it != sessions_.end()) return it->second;
  for (auto& [id, s] : sessions_) {
    if (!s->name().empty() && s->name() == id_or_name) return s;
  }
  return NotFound("no session " + id_or_name + "; see `warren session ls`");
}

Result<SessionInfo> SessionRegistry::Get(const std::string& id_or_name) {
  ASSIGN_OR_RETURN(std::shared_ptr<DetachedSession> s, Find(id_or_name));
  return s->Info();
}

Result<std::unique_ptr<Attachment>> SessionRegistry::Attach(const std::string& id_or_name,
                                                            bool scrollback) {
  ASSIGN_OR_RETURN(std::shared_ptr<DetachedSession> s, Find(id_or_name));
  int key = s->AddAttacher(scrollback);
  return std::make_unique<Attachment>(std::move(s), key);
}

Result<std::string> SessionRegistry::Scrollback(const std::string& id_or_name) {
  ASSIGN_OR_RETURN(std::shared_ptr<DetachedSession> s, Find(id_or_name));
  return s->Scrollback();
}

Status SessionRegistry::Send(const std::string& id_or_name, std::string_view bytes) {
  ASSIGN_OR_RETURN(std::shared_ptr<DetachedSession> s, Find(id_or_name));
  if (s->ended()) return FailedPrecondition("session " + s->id() + " has ended");
  Status st = s->proc().Write(bytes);
  if (st.code() == Code::kFailedPrecondition) {
    return FailedPrecondition("session " + s->id() + " has ended");
  }
  return st;
}

Status SessionRegistry::Resize(const std::string& id_or_name, int cols, int rows) {
  ASSIGN_OR_RETURN(std::shared_ptr<DetachedSession> s, Find(id_or_name));
  s->proc().Resize(cols, rows);
  return Status::Ok();
}

Result<SessionInfo> SessionRegistry::Kill(const std::string& id_or_name,
                                          const std::string& signal) {
  ASSIGN_OR_RETURN(std::shared_ptr<DetachedSession> s, Find(id_or_name));
  if (s->ended()) {
    SessionInfo info = s->Info();
    MutexLock lock(&mu_);
    sessions_.erase(s->id());
    return info;
  }
  s->MarkKilled();
  s->proc().Signal(signal.empty() ? "TERM" : signal);
  if (signal.empty()) s->proc().Terminate();
  return s->Info();
}

void SessionRegistry::GuestDown(const std::string& vm, const std::string& reason) {
  links_->Drop(vm, reason);
}

}  // namespace warren

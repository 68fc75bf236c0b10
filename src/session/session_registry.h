#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "session/guest_link.h"
#include "session/guest_links.h"

namespace warren {

struct SessionInfo;

struct SessionOptions {
  // Kept per session, oldest bytes dropped first (trimmed once 1.25x is reached).
  size_t scrollback_bytes = 1 << 20;
  size_t attacher_queue_bytes = 1 << 20;  // per attached client; beyond, output is dropped
  size_t max_sessions = 64;               // running + exited; exited ones are evicted first
  // Told when a session starts ("created"), gains or loses an attacher ("changed")
  // or ends ("ended"), with the session as session.ls shows it. Called with no
  // session lock held, from the session's own thread or the attacher's; quick.
  std::function<void(std::string_view action, const SessionInfo& session)> on_change;
};

struct SessionInfo {
  std::string id;
  std::string name;
  std::string vm;
  std::vector<std::string> argv;  // empty = login shell
  bool tty = false;
  std::string state;  // "running", "exited", "killed", "lost"
  std::optional<int> exit_code;
  std::string error;  // why it was lost
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  int attached = 0;
  uint64_t output_bytes = 0;
};

class DetachedSession;

// One client attached to a session (an RPC call). Next() returns the
// scrollback first (when asked), then live output. If the client reads too
// slowly its queue fills and later output is dropped; the next Next() starts
// with a marker saying how much. Destroying it detaches; the session goes on.
//
// Thread-safety: Next() from one thread; Write/Resize from any.
class Attachment {
 public:
  struct Chunk {
    std::string bytes;
    bool ended = false;  // the session ended (and everything before was delivered)
  };
  Attachment(std::shared_ptr<DetachedSession> session, int key);
  ~Attachment();
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;

  Chunk Next(std::stop_token stop);
  Status Write(std::string_view bytes);
  void Resize(int cols, int rows);
  SessionInfo Info();

 private:
  const std::shared_ptr<DetachedSession> session_;
  const int key_;
};

// Detached sessions: commands that keep running in a guest with no client
// attached, each with a bounded scrollback, any number of attachers (all see
// the same output; their input goes to the command whole-write by whole-write)
// and a state that outlives every client. Also owns the per-VM connection
// cache that `exec` uses.
//
// Locks: mu_ (the id → session map) is a leaf. Each session has attach_mu_
// (scrollback, attachers, state) and its process's in_mu_ (the seed's writeMu),
// both leaves. None is held across guest I/O or while taking another.
//
// Thread-safety: thread-safe.
class SessionRegistry {
 public:
  SessionRegistry(GuestDialer* dialer, EndpointResolver resolve, Clock* clock,
                  SessionOptions options = {});
  // Ends every connection (sessions become "lost") and joins their threads.
  ~SessionRegistry();
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  GuestLinks& links() { return *links_; }

  // Starts spec on vm's guest as a detached session. name "" = none; a name
  // must be unique among listed sessions (AlreadyExists). ResourceExhausted
  // when max_sessions are all running.
  Result<SessionInfo> Start(const std::string& vm, const std::string& name, const ExecSpec& spec)
      EXCLUDES(mu_);
  // Sessions (of `vm`, or all when ""), oldest first.
  std::vector<SessionInfo> List(const std::string& vm) EXCLUDES(mu_);
  Result<SessionInfo> Get(const std::string& id_or_name) EXCLUDES(mu_);
  // NotFound names the id and suggests `warren session ls`.
  Result<std::unique_ptr<Attachment>> Attach(const std::string& id_or_name, bool scrollback)
      EXCLUDES(mu_);
  Result<std::string> Scrollback(const std::string& id_or_name) EXCLUDES(mu_);
  // Writes input without attaching. FailedPrecondition once it ended.
  Status Send(const std::string& id_or_name, std::string_view bytes) EXCLUDES(mu_);
  // Resizes the session's terminal (the latest resize from any attacher wins).
  Status Resize(const std::string& id_or_name, int cols, int rows) EXCLUDES(mu_);
  // Running: sends `signal` ("" = TERM, and the channel is closed so the
  // command is hung up on even if it ignores TERM). Ended: removes it.
  Result<SessionInfo> Kill(const std::string& id_or_name, const std::string& signal)
      EXCLUDES(mu_);
  // vm's guest is going away: its connection (and so every session and exec
  // on it) ends now, sessions marked "lost" with the reason.
  void GuestDown(const std::string& vm, const std::string& reason);

 private:
  Result<std::shared_ptr<DetachedSession>> Find(const std::string& id_or_name) EXCLUDES(mu_);
  std::string NewIdLocked() REQUIRES(mu_);

  Clock* const clock_;
  const SessionOptions options_;
  std::unique_ptr<GuestLinks> links_;

  Mutex mu_{LockRank::kLeaf, "session registry"};
  std::map<std::string, std::shared_ptr<DetachedSession>> sessions_ GUARDED_BY(mu_);
  uint64_t next_seq_ GUARDED_BY(mu_) = 1;
};

}  // namespace warren

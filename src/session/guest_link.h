#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "session/guest_ssh.h"

namespace warren {

// Bounds of one process's buffers inside the daemon. Output is read from the
// guest only while its buffer has room, so a slow consumer stops the SSH
// window (backpressure to the guest) instead of growing memory.
inline constexpr size_t kProcessOutputBytes = 1 << 20;  // per stream
inline constexpr size_t kProcessInputBytes = 1 << 20;

// Wakes a GuestLink's pump thread (an eventfd). Shared by the link and its
// processes so a process that outlives its link never writes a stale fd.
class PumpWaker {
 public:
  PumpWaker();
  ~PumpWaker();
  PumpWaker(const PumpWaker&) = delete;
  PumpWaker& operator=(const PumpWaker&) = delete;
  void Wake();
  void Drain();
  int fd() const { return fd_; }

 private:
  const int fd_;
};

// What a process produced since the last Next().
struct ProcessUpdate {
  std::string out;
  std::string err;
  uint64_t stdin_written = 0;  // total stdin bytes handed to the guest so far
  bool ended = false;
  std::optional<int> exit_code;  // when ended normally; nullopt if killed by a signal
  Status error;                  // when ended because the connection or guest went away
};

// One command running in the guest through a GuestLink.
//
// Thread-safety: thread-safe. Next() has one consumer at a time; input calls
// may come from any thread. Two leaf locks, never held together: out_mu_
// (output, state) and in_mu_ (stdin and control; this is the seed's
// writeMu: each Write is appended whole, so writers never interleave within
// one call). The pump thread copies out under them and does SSH I/O unlocked.
class GuestProcess {
 public:
  explicit GuestProcess(std::shared_ptr<PumpWaker> waker) : waker_(std::move(waker)) {}

  // Blocks until there is output, stdin progress or the end, or `stop`; takes
  // what is there (an empty update when stopped).
  ProcessUpdate Next(std::stop_token stop) EXCLUDES(out_mu_);

  // Queues stdin. ResourceExhausted when it would exceed kProcessInputBytes
  // (nothing is queued then); FailedPrecondition after CloseStdin or the end.
  Status Write(std::string_view bytes) EXCLUDES(in_mu_);
  void CloseStdin() EXCLUDES(in_mu_);
  void Resize(int cols, int rows) EXCLUDES(in_mu_);
  void Signal(std::string name) EXCLUDES(in_mu_);
  // Closes the channel (the guest's sshd then hangs up the command).
  void Terminate() EXCLUDES(in_mu_);
  bool ended() EXCLUDES(out_mu_);

 private:
  friend class GuestLink;

  // What the pump takes from the input side in one round.
  struct InputWork {
    std::string stdin_bytes;
    bool eof = false;
    bool terminate = false;
    std::optional<std::pair<int, int>> resize;
    std::vector<std::string> signals;
  };
  InputWork TakeInput(size_t max_bytes) EXCLUDES(in_mu_);
  // `n` bytes of what TakeInput gave were written; `eof_sent` when the pump
  // also sent the EOF TakeInput asked for. Only that marks the EOF taken: a
  // CloseStdin that arrives between TakeInput and here must still be sent.
  void ConsumedInput(size_t n, bool eof_sent) EXCLUDES(in_mu_, out_mu_);
  size_t OutputRoom(int stream) EXCLUDES(out_mu_);
  void Deliver(std::string_view out, std::string_view err) EXCLUDES(out_mu_);
  void End(std::optional<int> exit_code, Status error) EXCLUDES(out_mu_, in_mu_);
  bool WantsOutput() EXCLUDES(out_mu_);
  bool HasInput() EXCLUDES(in_mu_);

  const std::shared_ptr<PumpWaker> waker_;

  Mutex out_mu_{LockRank::kLeaf, "guest process output"};
  CondVar out_cv_{&out_mu_};
  std::string out_ GUARDED_BY(out_mu_);
  std::string err_ GUARDED_BY(out_mu_);
  uint64_t stdin_written_ GUARDED_BY(out_mu_) = 0;
  uint64_t stdin_reported_ GUARDED_BY(out_mu_) = 0;
  bool ended_ GUARDED_BY(out_mu_) = false;
  bool end_reported_ GUARDED_BY(out_mu_) = false;
  std::optional<int> exit_code_ GUARDED_BY(out_mu_);
  Status error_ GUARDED_BY(out_mu_);

  Mutex in_mu_{LockRank::kLeaf, "guest process input (writeMu)"};
  std::string in_ GUARDED_BY(in_mu_);
  bool eof_ GUARDED_BY(in_mu_) = false;
  bool eof_taken_ GUARDED_BY(in_mu_) = false;
  bool terminate_ GUARDED_BY(in_mu_) = false;
  bool closed_ GUARDED_BY(in_mu_) = false;  // ended: no more input
  std::optional<std::pair<int, int>> resize_ GUARDED_BY(in_mu_);
  std::vector<std::string> signals_ GUARDED_BY(in_mu_);
};

class GuestLink;

struct LinkOptions {
  // A keepalive@openssh.com request goes out after this long without a byte
  // from the guest (busy or idle); zero turns keepalive off.
  std::chrono::milliseconds keepalive_interval{2000};
  // The link is declared dead when nothing arrived for this many intervals
  // (keepalives unanswered), and its processes end with Unavailable.
  int keepalive_count = 5;
  // Whether an idle link keeps a standby channel with the guest's shell
  // already started for its next command (GuestConnection::Prewarm): an exec
  // then costs the guest only the command's own exec.
  bool prewarm = true;
  // Set by GuestLinks' pool: called on the pump thread, with no lock held,
  // when the link's last process ended (`reusable`: it ended cleanly, the
  // guest closed its channel) and once more when the pump stops (false). It
  // must not destroy the link (the pump cannot join itself).
  std::function<void(GuestLink*, bool reusable)> on_idle;
};

// One SSH connection to one guest: a pump thread owns the connection (libssh
// sessions are single-threaded) and drives its channels; other threads talk to
// it through GuestProcess. GuestLinks runs one command at a time on each link
// (see docs/SESSIONS.md); the link itself can multiplex several.
//
// Thread-safety: thread-safe. mu_ is a leaf (open requests, the process list,
// the closed flag); no lock is held across SSH I/O.
class GuestLink {
 public:
  GuestLink(std::string vm, std::unique_ptr<GuestConnection> conn, LinkOptions options = {});
  ~GuestLink();  // Close("connection closed")
  GuestLink(const GuestLink&) = delete;
  GuestLink& operator=(const GuestLink&) = delete;

  // Starts spec in a new channel (waits for the guest's reply). Errors:
  // Unavailable when the link is closed or broke (dial again), and
  // OpenChannel's errors.
  Result<std::shared_ptr<GuestProcess>> Start(const ExecSpec& spec) EXCLUDES(mu_);

  // Ends every process with Unavailable(reason), drops the connection and
  // joins the pump. Idempotent.
  void Close(const std::string& reason) EXCLUDES(mu_);
  bool alive() EXCLUDES(mu_);
  // Whether the connection holds a standby channel right now.
  bool StandbyForTest() EXCLUDES(mu_);
  const std::string& vm() const { return vm_; }

 private:
  struct OpenRequest {
    ExecSpec spec;
    bool done = false;
    Result<std::shared_ptr<GuestProcess>> result = Unavailable("not opened");
  };
  struct Active {
    std::shared_ptr<GuestProcess> proc;
    std::unique_ptr<GuestChannel> channel;
    bool eof[2] = {false, false};
    bool finished = false;  // the guest closed the channel; exit_code is final
    std::optional<int> exit_code{};
  };

  void PumpLoop() EXCLUDES(mu_);
  // One round over every channel: true if anything moved.
  // `reusable` turns false once a command was hung up on.
  Result<bool> PumpOnce(std::list<Active>& active, bool& reusable);
  Status PumpOne(Active& a, bool& progress, bool& reusable);
  void OpenPending(std::list<Active>& active) EXCLUDES(mu_);
  // Sleeps until there is work; true when the socket is readable and no
  // channel will read it (the caller lets libssh take the packets in).
  bool WaitForWork(const std::list<Active>& active, bool progress);
  void FinishAll(std::list<Active>& active, const Status& why) EXCLUDES(mu_);
  // Once per idle spell of a link that can take another command: a standby
  // channel for the next one (not while an open waits: it is served first).
  void PrewarmIfIdle(const std::list<Active>& active, bool reusable, bool& want) EXCLUDES(mu_);
  void NoteStandby() EXCLUDES(mu_);  // standby_ = conn_->HasStandby()
  // Keepalive bookkeeping: an error once the guest has been silent too long.
  Status CheckAlive(std::chrono::steady_clock::time_point now);
  int PollTimeoutMillis(bool busy, std::chrono::steady_clock::time_point now) const;

  // Immutable after construction.
  const std::string vm_;
  const std::shared_ptr<PumpWaker> waker_;
  const LinkOptions options_;
  // Used only by the pump thread (and destroyed after it is joined).
  std::unique_ptr<GuestConnection> conn_;
  std::optional<uint64_t> received_;              // conn_->BytesReceived() last seen
  std::chrono::steady_clock::time_point heard_;   // when it last moved
  std::chrono::steady_clock::time_point probed_;  // last keepalive sent

  Mutex mu_{LockRank::kLeaf, "guest link"};
  CondVar open_cv_{&mu_};
  std::vector<std::shared_ptr<OpenRequest>> opens_ GUARDED_BY(mu_);
  bool closing_ GUARDED_BY(mu_) = false;
  bool dead_ GUARDED_BY(mu_) = false;  // the pump ended
  bool standby_ GUARDED_BY(mu_) = false;  // conn_->HasStandby(), as the pump last saw it
  Status close_reason_ GUARDED_BY(mu_);

  std::thread pump_;
};

}  // namespace warren

#pragma once

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace warren::sys {

// One accepted client, served on its own thread by AcceptLoop.
class ServedConnection {
 public:
  virtual ~ServedConnection() = default;
  // The connection's thread: returns when the client left or the loop's stop
  // eventfd became readable (or Stop() was called).
  virtual void Run() = 0;
  // True once Run() is about to return; the loop then joins the thread.
  virtual bool done() const = 0;
  // Ends Run() from another thread, for connections that do not poll the stop
  // eventfd themselves. Any thread, any number of times.
  virtual void Stop() {}
};

struct AcceptLoopOptions {
  std::string name;         // log prefix: "rpc", "web"
  int listen_fd = -1;       // listening, non-blocking; borrowed (the server closes it)
  int accept_flags = 0;     // accept4 flags besides SOCK_CLOEXEC
  int max_connections = 1;  // beyond: `refuse`, then close
  // Builds the connection for an accepted fd, which it owns from then on
  // (its destructor closes it). Called on the Serve() thread.
  std::function<std::shared_ptr<ServedConnection>(int fd)> make;
  // Tells a client beyond the limit why, on its fresh socket (best effort);
  // the connection `make` built closes the fd right after.
  std::function<void(int fd)> refuse;
};

// The accept loop both servers share (unix socket RPC and web): poll the
// listening fd and a stop eventfd, one thread per connection up to a limit,
// reap finished threads every 500 ms, join them all at shutdown. After a burst
// of connections ends, freed memory goes back to the kernel (malloc_trim):
// each connection thread allocated from one of glibc's per-thread arenas, and
// glibc keeps an arena's free pages mapped, so without a trim the daemon's RSS
// stays at its peak after the clients leave (docs/BENCHMARKS.md, soak).
//
// Thread-safety: Serve() runs on one thread; everything else may be called
// from any thread.
class AcceptLoop {
 public:
  // Trim when at least this many connections ended since the last trim and at
  // most kTrimWhenLive remain: a few ms, rarely.
  static constexpr int kTrimAfterEnded = 64;
  static constexpr size_t kTrimWhenLive = 8;

  static Result<std::unique_ptr<AcceptLoop>> Create(AcceptLoopOptions options);
  ~AcceptLoop();  // Shutdown(); closes the stop eventfd
  AcceptLoop(const AcceptLoop&) = delete;
  AcceptLoop& operator=(const AcceptLoop&) = delete;

  // Once written it stays readable: connections poll it to end with the loop.
  int stop_fd() const { return stop_fd_; }

  // Accepts until Shutdown(); returns once Shutdown() has completed.
  void Serve() EXCLUDES(mu_);
  // Stops accepting, signals the stop eventfd, Stop()s every connection and
  // joins their threads. Returns when that is done; idempotent.
  void Shutdown() EXCLUDES(mu_);
  // Stop()s every open connection; the loop goes on accepting.
  void StopAll() EXCLUDES(mu_);

  int ConnectionCountForTest() EXCLUDES(mu_);
  int TrimsForTest() EXCLUDES(mu_);

 private:
  struct Slot {
    std::shared_ptr<ServedConnection> conn;
    std::thread thread;
  };
  AcceptLoop(AcceptLoopOptions options, int stop_fd);
  void AcceptOne() EXCLUDES(mu_);
  void Reap() EXCLUDES(mu_);

  const AcceptLoopOptions options_;  // immutable after construction
  const int stop_fd_;

  Mutex mu_{LockRank::kLeaf, "accept loop"};
  CondVar cv_{&mu_};
  std::list<Slot> conns_ GUARDED_BY(mu_);
  int ended_since_trim_ GUARDED_BY(mu_) = 0;
  int trims_ GUARDED_BY(mu_) = 0;
  bool shutting_down_ GUARDED_BY(mu_) = false;
  bool shutdown_done_ GUARDED_BY(mu_) = false;
};

}  // namespace warren::sys

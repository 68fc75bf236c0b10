#pragma once

// Internal to the server: one accepted client connection.

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "rpc/dispatcher.h"
#include "rpc/frame.h"
#include "rpc/jsonrpc.h"
#include "sys/accept_loop.h"

namespace warren::rpc {

struct ConnectionLimits {
  uint32_t max_frame_bytes;
  int max_requests;
  std::chrono::milliseconds idle_timeout;
  std::chrono::milliseconds send_timeout;
};

// Run() is the reader loop (on the server's per-connection thread); it starts
// and joins the worker that executes requests in order. Exceptions stop here:
// one thrown while reading or in a stream sink drops this connection, one
// thrown while executing a call fails that call; the daemon goes on. Owned by shared_ptr
// because the CallContext callbacks keep it alive; once Run() returned, those
// callbacks fail with Unavailable.
//
// Locks: mu_ (queue, in-flight call, stream sinks) and write_mu_ (socket
// writes) are both leaves and never held together. write_mu_ is held across a
// blocking send: it exists precisely to serialize whole frames on the socket,
// and nothing else is ever taken under it.
class Connection : public sys::ServedConnection, public std::enable_shared_from_this<Connection> {
 public:
  Connection(int fd, PeerCred peer, int stop_fd, ConnectionLimits limits,
             const Dispatcher* dispatcher);
  ~Connection();

  void Run() override EXCLUDES(mu_, write_mu_);
  bool done() const override { return done_.load(std::memory_order_acquire); }

 private:
  using Sink = std::function<void(uint8_t channel, std::string_view bytes)>;
  struct Pending {
    Request request;
    std::stop_source stop;
  };

  // Reader side. Each returns false when the connection must close.
  bool ReadLoopOnce(FrameDecoder* decoder) EXCLUDES(mu_, write_mu_);
  // ReadLoopOnce with any exception logged and turned into "close".
  bool ReadContained(FrameDecoder* decoder) EXCLUDES(mu_, write_mu_);
  bool HandleFrame(Frame frame) EXCLUDES(mu_, write_mu_);
  bool HandleJson(std::string_view payload) EXCLUDES(mu_, write_mu_);
  void CancelById(const nlohmann::json& id) EXCLUDES(mu_);
  // Poll timeout until the idle deadline (or a recheck while a call is pending).
  int IdleWaitMillis() EXCLUDES(mu_);
  bool IdleExpired() EXCLUDES(mu_);
  void CloseAll() EXCLUDES(mu_, write_mu_);

  // Worker side.
  void WorkerLoop() EXCLUDES(mu_, write_mu_);
  void Execute(Pending& pending) EXCLUDES(mu_, write_mu_);
  CallContext MakeContext(const Pending& pending, std::vector<uint32_t>* streams);

  // Any thread.
  Status WriteFrame(std::string_view bytes) EXCLUDES(write_mu_);
  Status SendStreamChunks(uint32_t stream, uint8_t channel, std::string_view bytes)
      EXCLUDES(write_mu_);

  // Immutable after construction.
  const int fd_;
  const PeerCred peer_;
  const int stop_fd_;
  const ConnectionLimits limits_;
  const Dispatcher* const dispatcher_;

  std::thread worker_;  // started and joined by Run()
  std::atomic<bool> done_{false};

  Mutex mu_{LockRank::kLeaf, "rpc connection"};
  CondVar work_cv_{&mu_};
  std::deque<Pending> queue_ GUARDED_BY(mu_);
  bool in_flight_ GUARDED_BY(mu_) = false;
  nlohmann::json in_flight_id_ GUARDED_BY(mu_);
  std::stop_source in_flight_stop_ GUARDED_BY(mu_);
  bool closing_ GUARDED_BY(mu_) = false;
  std::map<uint32_t, std::shared_ptr<Sink>> sinks_ GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_activity_ GUARDED_BY(mu_);

  Mutex write_mu_{LockRank::kLeaf, "rpc connection write"};
  bool fd_closed_ GUARDED_BY(write_mu_) = false;  // fd_ closed: no more writes
  bool broken_ GUARDED_BY(write_mu_) = false;     // a write failed or timed out
};

}  // namespace warren::rpc

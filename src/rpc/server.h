#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <mutex>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "rpc/dispatcher.h"
#include "rpc/frame.h"
#include "sys/accept_loop.h"

namespace warren::rpc {

class Connection;

struct ServerOptions {
  std::filesystem::path socket;  // < 108 bytes (sun_path)
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  int max_connections = 64;
  // Queued + in-flight requests per connection; beyond → "too many pending requests".
  int max_requests_per_connection = 16;
  // A connection with no inbound frame for this long while no call is in flight
  // is closed. Zero disables the timeout.
  std::chrono::seconds idle_timeout{600};
  // Group owner of the socket (mode is always 0660); unchanged when absent.
  std::optional<gid_t> socket_gid;
  // How long a write may wait for a client that does not read before the
  // connection is dropped.
  std::chrono::milliseconds send_timeout{10000};
};

// The daemon's JSON-RPC 2.0 unix socket server.
//
// Per connection: a reader thread (frames, "$/cancel", inbound stream frames,
// idle timeout, limits) and a worker thread running that connection's requests
// in order through the Dispatcher. Replies, notifications and stream output are
// serialized by a per-connection write lock. A misbehaving client gets an
// error reply or a close; other connections are unaffected.
//
// Thread-safety: Serve() runs on one thread; Shutdown() may be called from any
// thread, any number of times. The Dispatcher must outlive the Server.
class Server {
 public:
  // Creates the socket atomically with mode 0660: it is bound inside a private
  // 0700 directory next to the target, chmod/chown'ed, then renamed into place
  // without replacing anything. AlreadyExists if a live daemon answers on the
  // path; a stale socket file (nobody listening) is removed; FailedPrecondition
  // if the path exists and is not a socket.
  static Result<std::unique_ptr<Server>> Listen(ServerOptions options,
                                                const Dispatcher* dispatcher);
  ~Server();  // Shutdown()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Accept loop (sys::AcceptLoop). Blocks until Shutdown() has completed.
  void Serve();
  // Stops accepting, fires every call's stop token, closes all connections,
  // joins their threads and unlinks the socket (if it is still ours). Returns
  // when all of that is done.
  void Shutdown();

  const std::filesystem::path& socket_path() const { return options_.socket; }
  int ConnectionCountForTest() { return loop_->ConnectionCountForTest(); }
  int TrimsForTest() { return loop_->TrimsForTest(); }

 private:
  Server(ServerOptions options, const Dispatcher* dispatcher, int listen_fd, dev_t dev,
         ino_t ino);
  std::shared_ptr<sys::ServedConnection> MakeConnection(int fd) const;
  void Refuse(int fd) const;

  // Immutable after construction.
  const ServerOptions options_;
  const Dispatcher* const dispatcher_;
  const int listen_fd_;
  const dev_t socket_dev_;
  const ino_t socket_ino_;
  // Set once in Listen; its stop eventfd wakes every connection's reader and
  // blocked writer. Declared after what its hooks use, destroyed before it.
  std::unique_ptr<sys::AcceptLoop> loop_;
  std::once_flag unlinked_;  // Shutdown's socket cleanup, once for all callers
};

}  // namespace warren::rpc

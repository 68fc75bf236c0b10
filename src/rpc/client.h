#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "rpc/frame.h"

namespace warren::rpc {

// The CLI's end of the daemon socket: one connection, one call at a time.
//
// Thread-safety: Call() must not run concurrently with itself (one in-flight
// call per Client). SendStream() and Cancel() may be called from any thread
// while a Call() runs (e.g. a stdin pump thread, a SIGINT handler thread).
// Cancel() only write()s an eventfd, so it is also async-signal-safe.
class Client {
 public:
  using NotifyFn = std::function<void(std::string_view method, const nlohmann::json& params)>;
  using StreamFn = std::function<void(uint32_t stream, uint8_t channel, std::string_view bytes)>;

  // Unavailable("cannot reach the warren daemon at S: <why>; start it with
  // `warren daemon`") when nobody listens on `socket`; FailedPrecondition
  // naming the socket's group to join when its mode refuses this user (EACCES).
  static Result<std::unique_ptr<Client>> Connect(const std::filesystem::path& socket,
                                                 uint32_t max_frame_bytes = kDefaultMaxFrameBytes);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends a request and blocks for its response. Notifications received
  // meanwhile go to `on_notify`, stream frames to `on_stream` (both on the
  // calling thread, in arrival order, before the result is returned). Errors
  // from the server come back as Status with their original code and message;
  // a lost connection is Unavailable.
  Result<nlohmann::json> Call(std::string_view method, const nlohmann::json& params,
                              const NotifyFn& on_notify = {}, const StreamFn& on_stream = {});

  // Sends a stream frame (e.g. stdin bytes, or kChannelControl for eof).
  Status SendStream(uint32_t stream, uint8_t channel, std::string_view bytes) EXCLUDES(write_mu_);

  // Asks the server to cancel the in-flight call ("$/cancel"); Call() then
  // returns whatever the handler returns when it stops (normally Cancelled).
  // No effect when no call is in flight; a Cancel() racing the start of a
  // Call() may be dropped.
  void Cancel();

 private:
  Client(int fd, int cancel_fd, uint32_t max_frame_bytes);

  Status WriteAll(std::string_view bytes) EXCLUDES(write_mu_);
  // Reads at least one chunk into decoder_ (blocking); handles cancel wakeups
  // for request `id`.
  Status ReadSome(const nlohmann::json& id);

  // Immutable after construction.
  const int fd_;
  const int cancel_fd_;  // eventfd written by Cancel()

  // Used only by the thread inside Call().
  FrameDecoder decoder_;
  int64_t next_id_ = 1;

  // Serializes writes from Call() and SendStream().
  Mutex write_mu_{LockRank::kLeaf, "rpc client write"};
  bool broken_ GUARDED_BY(write_mu_) = false;
};

}  // namespace warren::rpc

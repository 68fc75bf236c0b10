#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "sys/line_channel.h"
#include "sys/unique_fd.h"

namespace warren {

// An asynchronous QMP event ("SHUTDOWN", "POWERDOWN", "RESET", ...) as QEMU sent it.
struct QmpEvent {
  std::string name;
  nlohmann::json data;       // the "data" member, null when absent
  int64_t timestamp_us = 0;  // QEMU's event timestamp, microseconds since the epoch
};

// `query-status` reduced to what warren uses.
struct QmpStatus {
  bool running = false;
  std::string status;  // "running", "paused", "shutdown", "prelaunch", ...
};

// A client for one QMP (QEMU Machine Protocol) connection.
//
// Every read is bounded by a deadline; nothing blocks forever. Events that
// arrive while waiting for a reply are kept (at most kMaxEvents, oldest dropped)
// and handed out by TakeEvents/WaitEvent. Commands carry an "id" so that a
// reply is never confused with a stale one.
//
// Thread-safety: none. One connection is driven by one thread at a time; the
// owner (QemuProcess, under the VM's lock) serializes calls. The client owns
// its socket and closes it on destruction.
class QmpClient {
 public:
  static constexpr size_t kMaxEvents = 256;
  static constexpr std::chrono::milliseconds kDefaultTimeout{5000};

  // Connects to QEMU's QMP socket at `path`, retrying while the socket is
  // missing or refuses (QEMU creates it during start-up) until `timeout` has
  // passed, then reads the greeting and negotiates `qmp_capabilities`.
  // Errors: DeadlineExceeded (nothing listening in time), Unavailable (closed
  // during the handshake), Internal (not QMP, socket errors).
  static Result<std::unique_ptr<QmpClient>> Connect(const std::filesystem::path& path,
                                                    std::chrono::milliseconds timeout);
  // Only the connect of Connect: retries while the socket is missing or
  // refuses, until `timeout`. Errors: DeadlineExceeded, Internal.
  // A caller that gives up on a connection must not open another to the same
  // QEMU and expect a clean session: QEMU 7.2 can deliver the reply to a
  // command sent on the old connection to the new one, before its greeting.
  static Result<UniqueFd> ConnectSocket(const std::filesystem::path& path,
                                        std::chrono::milliseconds timeout);
  // Same handshake over an already connected stream socket (takes ownership).
  static Result<std::unique_ptr<QmpClient>> FromFd(UniqueFd fd, std::chrono::milliseconds timeout);

  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  // Runs `command` with `args` (an object, or null for none) and returns the
  // reply's "return" value. Errors: FailedPrecondition carrying QEMU's error
  // class and description, DeadlineExceeded, Unavailable when QEMU closed the
  // connection (closed() is then true), Internal for malformed JSON.
  Result<nlohmann::json> Execute(std::string_view command, const nlohmann::json& args = nullptr,
                                 std::chrono::milliseconds timeout = kDefaultTimeout);

  // Execute, passing `fd` (borrowed; QEMU gets a duplicate) as SCM_RIGHTS
  // ancillary data with the command's first byte: how `getfd` and `add-fd`
  // receive descriptors. Same errors as Execute.
  Result<nlohmann::json> ExecuteWithFd(std::string_view command, const nlohmann::json& args,
                                       int fd,
                                       std::chrono::milliseconds timeout = kDefaultTimeout);

  Result<QmpStatus> QueryStatus(std::chrono::milliseconds timeout = kDefaultTimeout);
  // Presses the ACPI power button; the guest decides whether to shut down.
  Status SystemPowerdown(std::chrono::milliseconds timeout = kDefaultTimeout);
  // Asks QEMU to exit now. OK also when QEMU closes the socket before replying,
  // which is how a quitting QEMU sometimes answers.
  Status Quit(std::chrono::milliseconds timeout = kDefaultTimeout);

  // Waits until an event named `name` has arrived (it may already have) and
  // removes it and every event before it from the queue. DeadlineExceeded or
  // Unavailable (connection closed) otherwise.
  Result<QmpEvent> WaitEvent(std::string_view name, std::chrono::milliseconds timeout);
  // Reads whatever has already arrived without waiting, then returns and
  // clears the queued events, oldest first.
  std::vector<QmpEvent> TakeEvents();

  // True once QEMU closed the connection (EOF or a reset).
  bool closed() const { return channel_.closed(); }

 private:
  explicit QmpClient(UniqueFd fd)
      : channel_(std::move(fd), kMaxLine, "QMP socket", "QEMU closed the QMP connection") {}
  // QMP messages are single lines; anything longer than this is not QEMU talking.
  static constexpr size_t kMaxLine = 16 << 20;

  Status Handshake(std::chrono::milliseconds timeout);
  // `pass_fd` >= 0 rides along with the first byte sent (SCM_RIGHTS).
  Status Send(const nlohmann::json& message, std::chrono::steady_clock::time_point deadline,
              int pass_fd = -1);
  Result<nlohmann::json> ExecuteImpl(std::string_view command, const nlohmann::json& args,
                                     int pass_fd, std::chrono::milliseconds timeout);
  // Next complete message; DeadlineExceeded at the deadline, Unavailable at EOF.
  Result<nlohmann::json> ReadMessage(std::chrono::steady_clock::time_point deadline);
  // Moves an event message to the queue; false if `message` is not an event.
  bool StashIfEvent(const nlohmann::json& message);

  LineChannel channel_;
  std::deque<QmpEvent> events_;
  uint64_t next_id_ = 1;
};

}  // namespace warren

#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/status.h"
#include "sys/unique_fd.h"

namespace warren {

// One end of a newline-delimited protocol over a connected stream socket:
// QEMU's QMP and warren's guest agent. Every wait has a deadline, a line is
// bounded, and "the peer closed" is kept as state. Owns the socket (made
// non-blocking). Not thread-safe: one caller at a time.
class LineChannel {
 public:
  using Clock = std::chrono::steady_clock;

  // `peer` names the socket in errors ("QMP socket"); `closed_message` is the
  // Unavailable error once the other end is gone ("QEMU closed ...").
  LineChannel(UniqueFd fd, size_t max_line, std::string peer, std::string closed_message);

  // Writes all of `bytes`. With `pass_fd` >= 0 the descriptor (borrowed; the
  // peer gets a duplicate) rides with the first byte as SCM_RIGHTS.
  // DeadlineExceeded when the socket stays full, Unavailable once closed.
  Status Write(std::string_view bytes, Clock::time_point deadline, int pass_fd = -1);

  // The next non-empty line, without its "\n" or "\r\n". DeadlineExceeded at
  // the deadline, Unavailable at EOF (a partial line is dropped: its sender is
  // gone), Internal past max_line bytes without a newline.
  Result<std::string> ReadLine(Clock::time_point deadline);

  // True once the peer closed (EOF, a reset, or a write it refused).
  bool closed() const { return closed_; }
  int fd() const { return fd_.get(); }

 private:
  // Waits for `events`; false once the deadline passed without them.
  Result<bool> Wait(short events, Clock::time_point deadline);

  UniqueFd fd_;
  const size_t max_line_;
  const std::string peer_;
  const std::string closed_message_;
  std::string inbuf_;  // received, not yet returned (at most one partial line)
  bool closed_ = false;
};

}  // namespace warren

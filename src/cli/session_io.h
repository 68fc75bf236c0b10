#pragma once

// The client side of a streamed guest command (exec, shell, session attach):
// stdin forwarded within the daemon's ack window, stdout/stderr written as
// they arrive, signals and terminal resizes forwarded, raw mode restored.

#include <nlohmann/json.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "cli/context.h"

namespace warren::cli {

struct StreamCallOptions {
  bool forward_stdin = true;
  bool raw_terminal = false;   // put a terminal stdin in raw mode (PTY sessions)
  bool use_ack_window = true;  // exec: wait for acks; attach: send freely
  bool forward_sigint = true;  // non-raw: Ctrl-C becomes {"signal":"INT"}; twice cancels
  int detach_byte = -1;        // attach: this input byte detaches (Ctrl-] = 0x1d)
  int stdin_fd = 0;            // where forwarded input comes from (cp: a pipe from the archiver)
  // Where the command's stdout/stderr go; empty = our fd 1 / fd 2. Runs on the
  // calling thread; returning false cancels the call (the consumer gave up).
  std::function<bool(uint8_t channel, std::string_view bytes)> on_output;
};

struct StreamCallResult {
  nlohmann::json reply;
  bool interrupted = false;  // a SIGINT was forwarded
  bool detached = false;     // the detach byte was typed
};

// The terminal's size (cols, rows) when stdout or stdin is a terminal.
bool TerminalSize(int* cols, int* rows);

// Calls `method` with params (stream id 1) and runs the I/O until it returns.
Result<StreamCallResult> RunStreamCall(CliContext& ctx, const std::string& method,
                                       nlohmann::json params, const StreamCallOptions& o);

}  // namespace warren::cli

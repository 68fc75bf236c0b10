#pragma once

// The control channel (kChannelControl) of session streams: one small JSON
// object per frame, so it can grow without a new frame kind.
//
//   client → daemon: {"eof":true}            stdin ended
//                    {"signal":"INT"}        signal the command (name without SIG)
//                    {"resize":[cols,rows]}  the terminal changed size
//   daemon → client: {"ready":true}         the daemon now takes stdin for this
//                                            stream; a client sends none before
//                    {"ack":N}               N stdin bytes in total have reached the
//                                            guest; a client keeps at most
//                                            kStdinWindowBytes sent but unacked.
//
// Both sides parse with StreamControl::Parse, the one parser: a payload that
// is not such an object is refused whole, never half-applied.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/status.h"

namespace warren::rpc {

inline constexpr size_t kStdinWindowBytes = 512 * 1024;
// A control payload is a few dozen bytes; anything much larger is refused
// before it is parsed.
inline constexpr size_t kMaxControlBytes = 1024;
inline constexpr int kMaxTerminalSide = 10000;  // resize: cols and rows are 1..this
inline constexpr size_t kMaxSignalName = 16;

struct StreamControl {
  bool eof = false;
  std::optional<std::string> signal;  // e.g. "INT": letters and digits, 1..16 of them
  std::optional<std::pair<int, int>> resize;  // cols, rows
  std::optional<uint64_t> ack;
  bool ready = false;

  // InvalidArgument naming the member when `bytes` is not a JSON object of the
  // members above with their types and ranges (unknown members, "eof":"yes",
  // "resize":["a",1], a negative ack, ...). Never throws.
  static Result<StreamControl> Parse(std::string_view bytes);
  // The JSON text of the members that are set.
  std::string Encode() const;
};

// The payloads each side sends.
std::string ControlAck(uint64_t total);
std::string ControlReady();
std::string ControlEof();
std::string ControlSignal(std::string name);
std::string ControlResize(int cols, int rows);

}  // namespace warren::rpc

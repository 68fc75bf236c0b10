#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace warren::rpc {

// Wire framing shared by the daemon's unix socket, the CLI and the fuzzer.
// Binary-safe; every frame is
//
//   u32 big-endian payload length | u8 kind | payload
//
// kind 1 (kJson):   payload is the UTF-8 text of one JSON-RPC 2.0 message.
// kind 2 (kStream): payload is u32 BE stream id | u8 channel | raw bytes.
//
// The length counts the payload only (not the 5-byte header); for kStream it
// includes the 5-byte stream sub-header. Pure functions: no I/O, no locks.

enum class FrameKind : uint8_t {
  kJson = 1,
  kStream = 2,
};

// Channels of a kStream frame.
inline constexpr uint8_t kChannelStdin = 0;
inline constexpr uint8_t kChannelStdout = 1;
inline constexpr uint8_t kChannelStderr = 2;
inline constexpr uint8_t kChannelControl = 3;  // eof / control

inline constexpr size_t kFrameHeaderBytes = 5;
inline constexpr size_t kStreamHeaderBytes = 5;
// Default for rpc.max_frame_bytes.
inline constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;

struct Frame {
  FrameKind kind = FrameKind::kJson;
  // kStream only.
  uint32_t stream = 0;
  uint8_t channel = 0;
  // kJson: the JSON text. kStream: the raw bytes after the stream sub-header.
  std::string payload;
};

// Encoders. They do not enforce a maximum: the receiver does.
std::string EncodeJsonFrame(std::string_view json_text);
std::string EncodeStreamFrame(uint32_t stream, uint8_t channel, std::string_view bytes);
std::string EncodeFrame(const Frame& frame);

// Incremental decoder for a byte stream cut into arbitrary chunks.
//
//   FrameDecoder d(max);
//   d.Feed(chunk);
//   while (true) {
//     ASSIGN_OR_RETURN(std::optional<Frame> f, d.Next());
//     if (!f) break;  // need more bytes
//     ...
//   }
//
// Errors (InvalidArgument) are reported as soon as the header is seen, before
// the payload arrives: a length above `max_frame_bytes` ("frame of N bytes
// exceeds the limit of M; raise rpc.max_frame_bytes"), an unknown kind, or a
// kStream payload shorter than its sub-header. Errors are sticky: once Next()
// failed the byte stream cannot be resynchronised and every later call fails.
//
// Not thread-safe (one per connection, used by its reader thread).
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_bytes = kDefaultMaxFrameBytes);

  void Feed(std::string_view bytes);
  // The next complete frame, std::nullopt if more bytes are needed, or the error.
  Result<std::optional<Frame>> Next();

  // Bytes fed but not yet returned as frames.
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  const uint32_t max_frame_bytes_;
  std::string buf_;
  size_t pos_ = 0;  // start of the first unconsumed byte in buf_
  std::optional<Status> error_;
};

}  // namespace warren::rpc

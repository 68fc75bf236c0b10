#pragma once

// containerd's ttrpc wire format (github.com/containerd/ttrpc, channel.go and
// types.go), written here rather than linked: it is small, and owning it lets
// the golden-byte tests and the fuzzer pin every byte. Pure functions and one
// incremental decoder: no I/O, no locks.
//
// A frame is a 10-byte header then the message:
//
//   u32 BE length (of the message, not the header) | u32 BE stream id |
//   u8 type (1 request, 2 response) | u8 flags (reserved, 0)
//
// A request's message is the protobuf `Request` {1 service, 2 method,
// 3 payload, 4 timeout_nano, 5 metadata (KeyValue {1 key, 2 value})}; a
// response's is `Response` {1 status (google.rpc.Status {1 code, 2 message}),
// 2 payload}. Clients use odd stream ids; the server answers on the same id.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace warren::shim::ttrpc {

inline constexpr size_t kHeaderBytes = 10;
// ttrpc's messageLengthMax: a larger frame is refused (ResourceExhausted).
inline constexpr uint32_t kMaxMessageBytes = 4u << 20;

enum class MessageType : uint8_t { kRequest = 1, kResponse = 2 };

// gRPC status codes (google.rpc.Code) that the shim answers with.
enum class GrpcCode : int32_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kFailedPrecondition = 9,
  kResourceExhausted = 8,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
};

struct FrameHeader {
  uint32_t length = 0;
  uint32_t stream_id = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
};

struct Request {
  std::string service;  // "containerd.task.v2.Task"
  std::string method;   // "Create"
  std::string payload;  // the method's own protobuf message
  int64_t timeout_nano = 0;
  std::vector<std::pair<std::string, std::string>> metadata;
};

struct Response {
  GrpcCode code = GrpcCode::kOk;
  std::string message;  // google.rpc.Status.message; empty when ok
  std::string payload;
};

struct Frame {
  FrameHeader header;
  std::string message;
};

// Header bytes for `h` (exactly kHeaderBytes).
std::string EncodeHeader(const FrameHeader& h);
// Reads the first kHeaderBytes of `bytes` (the caller checks the size).
FrameHeader DecodeHeader(std::string_view bytes);
// A whole frame: header (length = message size) then the message.
std::string EncodeFrame(uint32_t stream_id, MessageType type, std::string_view message);

std::string EncodeRequest(const Request& r);
std::string EncodeResponse(const Response& r);
// InvalidArgument naming the malformed field; unknown fields are skipped, as
// protobuf requires.
Result<Request> DecodeRequest(std::string_view message);
Result<Response> DecodeResponse(std::string_view message);

// The one mapping of warren's Status codes to gRPC codes.
GrpcCode ToGrpcCode(const Status& s);
Response ErrorResponse(const Status& s);

// Splits a byte stream into frames. Append what was read, then call Next()
// until it returns nullopt. A frame longer than kMaxMessageBytes is an error
// (ResourceExhausted): the stream cannot be resynchronised without reading it,
// so the connection is closed.
class FrameDecoder {
 public:
  void Append(std::string_view bytes) { buffer_.append(bytes); }
  Result<std::optional<Frame>> Next();
  size_t buffered() const { return buffer_.size() - offset_; }

 private:
  std::string buffer_;
  size_t offset_ = 0;
};

}  // namespace warren::shim::ttrpc

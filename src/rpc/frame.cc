#include "rpc/frame.h"

#include <string>
#include <utility>

namespace warren::rpc {
namespace {

void PutU32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>((v >> 24) & 0xff));
  out->push_back(static_cast<char>((v >> 16) & 0xff));
  out->push_back(static_cast<char>((v >> 8) & 0xff));
  out->push_back(static_cast<char>(v & 0xff));
}

uint32_t GetU32(const char* p) {
  auto b = [p](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

std::string Header(size_t payload_len, FrameKind kind) {
  std::string out;
  out.reserve(kFrameHeaderBytes + payload_len);
  PutU32(&out, static_cast<uint32_t>(payload_len));
  out.push_back(static_cast<char>(kind));
  return out;
}

}  // namespace

std::string EncodeJsonFrame(std::string_view json_text) {
  std::string out = Header(json_text.size(), FrameKind::kJson);
  out.append(json_text);
  return out;
}

std::string EncodeStreamFrame(uint32_t stream, uint8_t channel, std::string_view bytes) {
  std::string out = Header(kStreamHeaderBytes + bytes.size(), FrameKind::kStream);
  PutU32(&out, stream);
  out.push_back(static_cast<char>(channel));
  out.append(bytes);
  return out;
}

std::string EncodeFrame(const Frame& frame) {
  if (frame.kind == FrameKind::kStream) {
    return EncodeStreamFrame(frame.stream, frame.channel, frame.payload);
  }
  return EncodeJsonFrame(frame.payload);
}

FrameDecoder::FrameDecoder(uint32_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void FrameDecoder::Feed(std::string_view bytes) {
  if (error_) return;
  // Compact once the consumed prefix dominates, so the buffer stays O(frame).
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

Result<std::optional<Frame>> FrameDecoder::Next() {
  if (error_) return *error_;
  if (buffered() < kFrameHeaderBytes) return std::optional<Frame>();
  const char* head = buf_.data() + pos_;
  const uint32_t len = GetU32(head);
  const uint8_t kind = static_cast<uint8_t>(head[4]);
  if (len > max_frame_bytes_) {
    error_ = InvalidArgument("frame of " + std::to_string(len) + " bytes exceeds the limit of " +
                             std::to_string(max_frame_bytes_) + "; raise rpc.max_frame_bytes");
    return *error_;
  }
  if (kind != static_cast<uint8_t>(FrameKind::kJson) &&
      kind != static_cast<uint8_t>(FrameKind::kStream)) {
    error_ = InvalidArgument("unknown frame kind " + std::to_string(kind));
    return *error_;
  }
  if (kind == static_cast<uint8_t>(FrameKind::kStream) && len < kStreamHeaderBytes) {
    error_ = InvalidArgument("stream frame of " + std::to_string(len) +
                             " bytes is shorter than its 5-byte stream header");
    return *error_;
  }
  if (buffered() - kFrameHeaderBytes < len) return std::optional<Frame>();

  const char* body = head + kFrameHeaderBytes;
  Frame frame;
  frame.kind = static_cast<FrameKind>(kind);
  if (frame.kind == FrameKind::kStream) {
    frame.stream = GetU32(body);
    frame.channel = static_cast<uint8_t>(body[4]);
    frame.payload.assign(body + kStreamHeaderBytes, len - kStreamHeaderBytes);
  } else {
    frame.payload.assign(body, len);
  }
  pos_ += kFrameHeaderBytes + len;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return std::optional<Frame>(std::move(frame));
}

}  // namespace warren::rpc

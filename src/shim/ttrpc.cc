#include "shim/ttrpc.h"

namespace warren::shim::ttrpc {
namespace {

// The protobuf wire format, only as much of it as Request/Response need.
constexpr uint8_t kVarint = 0;
constexpr uint8_t kFixed64 = 1;
constexpr uint8_t kBytes = 2;
constexpr uint8_t kFixed32 = 5;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, uint32_t field, uint8_t wire) { PutVarint(out, (field << 3) | wire); }

// proto3: empty strings and zero numbers are not written.
void PutBytes(std::string& out, uint32_t field, std::string_view s) {
  if (s.empty()) return;
  PutTag(out, field, kBytes);
  PutVarint(out, s.size());
  out.append(s);
}

void PutInt(std::string& out, uint32_t field, int64_t v) {
  if (v == 0) return;
  PutTag(out, field, kVarint);
  PutVarint(out, static_cast<uint64_t>(v));
}

// A cursor over one message; every read checks the bounds.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool done() const { return pos_ >= in_.size(); }

  Result<uint64_t> Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return InvalidArgument("ttrpc: truncated varint");
      uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return InvalidArgument("ttrpc: varint longer than 10 bytes");
  }

  Result<std::string_view> Bytes() {
    ASSIGN_OR_RETURN(uint64_t n, Varint());
    if (n > in_.size() - pos_) return InvalidArgument("ttrpc: length past the end of the message");
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  // Skips a field of an unknown number.
  Status Skip(uint8_t wire) {
    size_t n = 0;
    switch (wire) {
      case kVarint: return Varint().status();
      case kBytes: return Bytes().status();
      case kFixed64: n = 8; break;
      case kFixed32: n = 4; break;
      default: return InvalidArgument("ttrpc: unsupported wire type " + std::to_string(wire));
    }
    if (n > in_.size() - pos_) return InvalidArgument("ttrpc: truncated fixed field");
    pos_ += n;
    return Status::Ok();
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

struct Tag {
  uint32_t field;
  uint8_t wire;
};

Result<Tag> ReadTag(Reader& r) {
  ASSIGN_OR_RETURN(uint64_t t, r.Varint());
  if ((t >> 3) == 0 || (t >> 3) > UINT32_MAX) return InvalidArgument("ttrpc: bad field number");
  return Tag{static_cast<uint32_t>(t >> 3), static_cast<uint8_t>(t & 7)};
}

Status Expect(const Tag& t, uint8_t wire, std::string_view name) {
  if (t.wire == wire) return Status::Ok();
  return InvalidArgument("ttrpc: field " + std::string(name) + " has wire type " +
                         std::to_string(t.wire));
}

Result<std::pair<std::string, std::string>> DecodeKeyValue(std::string_view in) {
  Reader r(in);
  std::pair<std::string, std::string> kv;
  while (!r.done()) {
    ASSIGN_OR_RETURN(Tag t, ReadTag(r));
    if (t.field == 1 || t.field == 2) {
      RETURN_IF_ERROR(Expect(t, kBytes, t.field == 1 ? "key" : "value"));
      ASSIGN_OR_RETURN(std::string_view s, r.Bytes());
      (t.field == 1 ? kv.first : kv.second) = std::string(s);
    } else {
      RETURN_IF_ERROR(r.Skip(t.wire));
    }
  }
  return kv;
}

Status DecodeStatus(std::string_view in, Response& out) {
  Reader r(in);
  while (!r.done()) {
    ASSIGN_OR_RETURN(Tag t, ReadTag(r));
    if (t.field == 1) {
      RETURN_IF_ERROR(Expect(t, kVarint, "status.code"));
      ASSIGN_OR_RETURN(uint64_t code, r.Varint());
      out.code = static_cast<GrpcCode>(static_cast<int32_t>(code));
    } else if (t.field == 2) {
      RETURN_IF_ERROR(Expect(t, kBytes, "status.message"));
      ASSIGN_OR_RETURN(std::string_view s, r.Bytes());
      out.message = std::string(s);
    } else {
      RETURN_IF_ERROR(r.Skip(t.wire));  // 3: details (Any), not used here
    }
  }
  return Status::Ok();
}

uint32_t GetU32(std::string_view b, size_t at) {
  return (uint32_t{static_cast<uint8_t>(b[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(b[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[at + 2])} << 8) | uint32_t{static_cast<uint8_t>(b[at + 3])};
}

void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

}  // namespace

std::string EncodeHeader(const FrameHeader& h) {
  std::string out;
  out.reserve(kHeaderBytes);
  PutU32(out, h.length);
  PutU32(out, h.stream_id);
  out.push_back(static_cast<char>(h.type));
  out.push_back(static_cast<char>(h.flags));
  return out;
}

FrameHeader DecodeHeader(std::string_view b) {
  return FrameHeader{GetU32(b, 0), GetU32(b, 4), static_cast<uint8_t>(b[8]),
                     static_cast<uint8_t>(b[9])};
}

std::string EncodeFrame(uint32_t stream_id, MessageType type, std::string_view message) {
  std::string out = EncodeHeader(FrameHeader{static_cast<uint32_t>(message.size()), stream_id,
                                             static_cast<uint8_t>(type), 0});
  out.append(message);
  return out;
}

std::string EncodeRequest(const Request& r) {
  std::string out;
  PutBytes(out, 1, r.service);
  PutBytes(out, 2, r.method);
  PutBytes(out, 3, r.payload);
  PutInt(out, 4, r.timeout_nano);
  for (const auto& [k, v] : r.metadata) {
    std::string kv;
    PutBytes(kv, 1, k);
    PutBytes(kv, 2, v);
    PutTag(out, 5, kBytes);
    PutVarint(out, kv.size());
    out.append(kv);
  }
  return out;
}

std::string EncodeResponse(const Response& r) {
  std::string out;
  // ttrpc-go always sends a Status (even for OK), and containerd reads a
  // missing one as OK too; send it only when there is something to say.
  if (r.code != GrpcCode::kOk || !r.message.empty()) {
    std::string st;
    PutInt(st, 1, static_cast<int32_t>(r.code));
    PutBytes(st, 2, r.message);
    PutTag(out, 1, kBytes);
    PutVarint(out, st.size());
    out.append(st);
  }
  PutBytes(out, 2, r.payload);
  return out;
}

Result<Request> DecodeRequest(std::string_view message) {
  Reader r(message);
  Request out;
  while (!r.done()) {
    ASSIGN_OR_RETURN(Tag t, ReadTag(r));
    switch (t.field) {
      case 1:
      case 2:
      case 3: {
        RETURN_IF_ERROR(Expect(t, kBytes, t.field == 1 ? "service" : t.field == 2 ? "method" : "payload"));
        ASSIGN_OR_RETURN(std::string_view s, r.Bytes());
        (t.field == 1 ? out.service : t.field == 2 ? out.method : out.payload) = std::string(s);
        break;
      }
      case 4: {
        RETURN_IF_ERROR(Expect(t, kVarint, "timeout_nano"));
        ASSIGN_OR_RETURN(uint64_t v, r.Varint());
        out.timeout_nano = static_cast<int64_t>(v);
        break;
      }
      case 5: {
        RETURN_IF_ERROR(Expect(t, kBytes, "metadata"));
        ASSIGN_OR_RETURN(std::string_view s, r.Bytes());
        ASSIGN_OR_RETURN(auto kv, DecodeKeyValue(s));
        out.metadata.push_back(std::move(kv));
        break;
      }
      default:
        RETURN_IF_ERROR(r.Skip(t.wire));
    }
  }
  return out;
}

Result<Response> DecodeResponse(std::string_view message) {
  Reader r(message);
  Response out;
  while (!r.done()) {
    ASSIGN_OR_RETURN(Tag t, ReadTag(r));
    if (t.field == 1) {
      RETURN_IF_ERROR(Expect(t, kBytes, "status"));
      ASSIGN_OR_RETURN(std::string_view s, r.Bytes());
      RETURN_IF_ERROR(DecodeStatus(s, out));
    } else if (t.field == 2) {
      RETURN_IF_ERROR(Expect(t, kBytes, "payload"));
      ASSIGN_OR_RETURN(std::string_view s, r.Bytes());
      out.payload = std::string(s);
    } else {
      RETURN_IF_ERROR(r.Skip(t.wire));
    }
  }
  return out;
}

GrpcCode ToGrpcCode(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return GrpcCode::kOk;
    case Code::kInvalidArgument: return GrpcCode::kInvalidArgument;
    case Code::kNotFound: return GrpcCode::kNotFound;
    case Code::kAlreadyExists: return GrpcCode::kAlreadyExists;
    case Code::kFailedPrecondition: return GrpcCode::kFailedPrecondition;
    case Code::kUnavailable: return GrpcCode::kUnavailable;
    case Code::kCancelled: return GrpcCode::kCancelled;
    case Code::kDeadlineExceeded: return GrpcCode::kDeadlineExceeded;
    case Code::kResourceExhausted: return GrpcCode::kResourceExhausted;
    default: return GrpcCode::kInternal;
  }
}

Response ErrorResponse(const Status& s) {
  return Response{ToGrpcCode(s), s.message(), {}};
}

Result<std::optional<Frame>> FrameDecoder::Next() {
  if (buffered() < kHeaderBytes) return std::optional<Frame>();
  std::string_view rest = std::string_view(buffer_).substr(offset_);
  FrameHeader h = DecodeHeader(rest);
  if (h.length > kMaxMessageBytes) {
    return ResourceExhausted("ttrpc: message of " + std::to_string(h.length) +
                             " bytes exceeds the maximum of " + std::to_string(kMaxMessageBytes));
  }
  if (rest.size() - kHeaderBytes < h.length) return std::optional<Frame>();
  Frame f{h, std::string(rest.substr(kHeaderBytes, h.length))};
  offset_ += kHeaderBytes + h.length;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ > (64u << 10)) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return std::optional<Frame>(std::move(f));
}

}  // namespace warren::shim::ttrpc

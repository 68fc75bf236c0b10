// Feeds arbitrary bytes to the ttrpc frame decoder (in fuzzer-chosen chunk
// sizes) and every message to the Request and Response decoders; what decodes
// must re-encode and decode to the same fields. Never crash, hang or throw.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "shim/ttrpc.h"

namespace {

using namespace warren::shim::ttrpc;

void Exercise(const Frame& f) {
  if (auto req = DecodeRequest(f.message); req.ok()) {
    auto again = DecodeRequest(EncodeRequest(*req));
    if (!again.ok() || again->service != req->service || again->method != req->method ||
        again->payload != req->payload || again->timeout_nano != req->timeout_nano ||
        again->metadata != req->metadata) {
      std::abort();
    }
  }
  if (auto resp = DecodeResponse(f.message); resp.ok()) {
    auto again = DecodeResponse(EncodeResponse(*resp));
    if (!again.ok() || again->code != resp->code || again->message != resp->message ||
        again->payload != resp->payload) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  FrameDecoder decoder;
  while (!bytes.empty()) {
    std::string_view piece = bytes.substr(0, chunk);
    bytes.remove_prefix(piece.size());
    decoder.Append(piece);
    while (true) {
      auto f = decoder.Next();
      if (!f.ok() || !f->has_value()) break;
      Exercise(**f);
    }
    if (!decoder.Next().ok()) break;
  }
  return 0;
}

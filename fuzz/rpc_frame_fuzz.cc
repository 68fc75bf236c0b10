// Feeds arbitrary bytes to the frame decoder (in fuzzer-chosen chunk sizes) and
// every JSON frame to the request and response parsers. Must never crash, hang
// or throw; errors are fine.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rpc/errors.h"
#include "rpc/frame.h"
#include "rpc/jsonrpc.h"

namespace {

void Exercise(const warren::rpc::Frame& frame) {
  using namespace warren::rpc;
  if (frame.kind != FrameKind::kJson) return;
  auto request = ParseRequest(frame.payload);
  if (auto* err = std::get_if<RequestError>(&request)) {
    (void)MakeError(err->id, err->error);
  } else {
    const Request& req = std::get<Request>(request);
    (void)MakeResult(req.id, req.params);
  }
  auto incoming = ParseIncoming(frame.payload);
  if (auto* resp = std::get_if<Response>(&incoming); resp && resp->error) {
    (void)JsonRpcErrorToStatus(*resp->error);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the chunk size so the fuzzer explores split frames.
  const size_t chunk = 1 + data[0] % 64;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  warren::rpc::FrameDecoder decoder(1 << 16);
  while (!bytes.empty()) {
    std::string_view piece = bytes.substr(0, chunk);
    bytes.remove_prefix(piece.size());
    decoder.Feed(piece);
    while (true) {
      auto next = decoder.Next();
      if (!next.ok()) return 0;
      if (!next->has_value()) break;
      Exercise(**next);
    }
  }
  return 0;
}

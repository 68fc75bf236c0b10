#include "net/nftables.h"

#include <nftables/libnftables.h>

#include <memory>

namespace warren {
namespace {

// nft reports "Error: …\n<the command>\n<carets under the bad token>\n"; as one
// line: "Error: …; <the command>" (the carets point nowhere once joined).
std::string OneLine(std::string_view text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" ^~") == std::string_view::npos) continue;
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

}  // namespace

Result<std::string> RunNft(std::string_view script) {
  std::unique_ptr<nft_ctx, decltype(&nft_ctx_free)> ctx(nft_ctx_new(NFT_CTX_DEFAULT),
                                                        &nft_ctx_free);
  if (!ctx) return Internal("nftables: cannot allocate a context");
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    return Internal("nftables: cannot buffer output");
  }
  std::string text(script);
  if (nft_run_cmd_from_buffer(ctx.get(), text.c_str()) != 0) {
    const std::string err = OneLine(nft_ctx_get_error_buffer(ctx.get()));
    if (err.find("Operation not permitted") != std::string::npos) {
      return FailedPrecondition("nftables: " + err + " (needs CAP_NET_ADMIN: run as root)");
    }
    if (err.find("No such file or directory") != std::string::npos) return NotFound("nftables: " + err);
    return Internal("nftables: " + err);
  }
  return std::string(nft_ctx_get_output_buffer(ctx.get()));
}

}  // namespace warren

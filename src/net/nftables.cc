#include "net/nftables.h"

#include <nftables/libnftables.h>

#include <memory>

namespace warren {

Result<std::string> RunNft(std::string_view script) {
  std::unique_ptr<nft_ctx, decltype(&nft_ctx_free)> ctx(nft_ctx_new(NFT_CTX_DEFAULT),
                                                        &nft_ctx_free);
  if (!ctx) return Internal("nftables: cannot allocate a context");
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    return Internal("nftables: cannot buffer output");
  }
  std::string text(script);
  if (nft_run_cmd_from_buffer(ctx.get(), text.c_str()) != 0) {
    std::string err = nft_ctx_get_error_buffer(ctx.get());
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    if (err.find("Operation not permitted") != std::string::npos) {
      return FailedPrecondition("nftables: " + err + " (needs CAP_NET_ADMIN: run as root)");
    }
    if (err.find("No such file or directory") != std::string::npos) return NotFound("nftables: " + err);
    return Internal("nftables: " + err);
  }
  return std::string(nft_ctx_get_output_buffer(ctx.get()));
}

}  // namespace warren

#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace warren {

// Runs an nftables script (nft(8) syntax, several commands separated by
// newlines) through libnftables, in the calling thread's network namespace.
// The script is one netlink batch: it applies whole or not at all. Returns
// what nft would print (e.g. a `list table`) on success; on failure an error
// carrying nft's own message, which names the offending token.
//
// Thread-safe: each call uses its own nft context. Needs CAP_NET_ADMIN.
Result<std::string> RunNft(std::string_view script);

}  // namespace warren

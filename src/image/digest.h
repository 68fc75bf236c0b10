#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "base/status.h"

namespace warren {

// SHA-256 of `data` as 64 lowercase hex digits. Pure; thread-safe.
std::string Sha256Hex(std::string_view data);

// SHA-256 of a file's contents, streamed (files may be GBs). Errors: the file
// cannot be opened or read (Internal, naming the path).
Result<std::string> Sha256FileHex(const std::filesystem::path& path);

// Standard base64 (RFC 4648, with padding, no line breaks). Pure; thread-safe.
std::string Base64Encode(std::string_view data);

}  // namespace warren

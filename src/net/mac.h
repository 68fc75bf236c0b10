#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace warren {

// An Ethernet address, most significant octet first.
using MacAddress = std::array<uint8_t, 6>;

// Parses "52:54:00:0a:4d:02" (case-insensitive, exactly six colon-separated pairs).
Result<MacAddress> ParseMac(std::string_view text);
// Lower-case "52:54:00:0a:4d:02".
std::string FormatMac(const MacAddress& mac);

}  // namespace warren

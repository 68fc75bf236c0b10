#include "net/mac.h"

#include <cstdio>

namespace warren {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<MacAddress> ParseMac(std::string_view text) {
  auto bad = [&] {
    return InvalidArgument("MAC address \"" + std::string(text) +
                           "\" is invalid: expected six hex pairs like 52:54:00:0a:4d:02");
  };
  if (text.size() != 17) return bad();
  MacAddress mac{};
  for (size_t i = 0; i < mac.size(); ++i) {
    int hi = HexDigit(text[i * 3]);
    int lo = HexDigit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) return bad();
    mac[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

std::string FormatMac(const MacAddress& mac) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

}  // namespace warren

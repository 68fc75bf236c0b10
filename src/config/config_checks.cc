#include "config/config_checks.h"

#include <charconv>
#include <cstdint>

namespace warren::config_checks {
namespace {

bool ParseUint(std::string_view s, uint32_t max, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return false;
  *out = v;
  return true;
}

bool AllOf(std::string_view v, bool (*ok)(char)) {
  for (char c : v) {
    if (!ok(c)) return false;
  }
  return true;
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsNameChar(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; }

}  // namespace

std::string Ipv4Cidr(std::string_view v) {
  constexpr const char* kShape = "is not a valid IPv4 CIDR; use a network like 10.77.0.0/24";
  size_t slash = v.find('/');
  if (slash == std::string_view::npos) return kShape;
  uint32_t addr = 0;
  std::string_view ip = v.substr(0, slash);
  for (int i = 0; i < 4; ++i) {
    size_t dot = i < 3 ? ip.find('.') : ip.size();
    uint32_t octet;
    if (dot == std::string_view::npos || !ParseUint(ip.substr(0, dot), 255, &octet)) return kShape;
    addr = (addr << 8) | octet;
    ip.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  uint32_t prefix;
  if (!ParseUint(v.substr(slash + 1), 32, &prefix)) return kShape;
  if (prefix < 16 || prefix > 29) return "has a prefix outside 16..29; use e.g. /24";
  uint32_t host_mask = (prefix == 32) ? 0 : (0xffffffffu >> prefix);
  if (addr & host_mask) {
    uint32_t net = addr & ~host_mask;
    return "has host bits set; use the network address " + std::to_string(net >> 24) + "." +
           std::to_string((net >> 16) & 255) + "." + std::to_string((net >> 8) & 255) + "." +
           std::to_string(net & 255) + "/" + std::to_string(prefix);
  }
  return "";
}

std::string IfName(std::string_view v) {
  if (v.empty() || v.size() > 15 || v == "." || v == ".." || !AllOf(v, IsNameChar)) {
    return "is not a valid interface name; use 1..15 letters, digits, '.', '_' or '-'";
  }
  return "";
}

std::string NetnsName(std::string_view v) {
  if (v.empty()) return "";  // derived from the root (see NetworkConfig::netns)
  if (v.size() > 64 || v == "." || v == ".." || !AllOf(v, IsNameChar)) {
    return "is not a valid network namespace name; use 1..64 letters, digits, '.', '_' or '-'";
  }
  return "";
}

std::string DnsName(std::string_view v) {
  constexpr const char* kMsg =
      "is not a valid DNS name; use dot-separated labels of letters, digits and '-' "
      "like warren.internal";
  if (v.empty() || v.size() > 253) return kMsg;
  while (true) {
    size_t dot = v.find('.');
    std::string_view label = v.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return kMsg;
    }
    if (!AllOf(
            label, +[](char c) { return IsAlnum(c) || c == '-'; }))
      return kMsg;
    if (dot == std::string_view::npos) return "";
    v.remove_prefix(dot + 1);
  }
}

std::string HostPort(std::string_view v) {
  constexpr const char* kMsg =
      "is not IPV4:PORT; use e.g. 127.0.0.1:5354 (port 0: any free port)";
  size_t colon = v.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return kMsg;
  std::string_view host = v.substr(0, colon);
  uint32_t port;
  if (!ParseUint(v.substr(colon + 1), 65535, &port)) return kMsg;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return kMsg;
    }
  }
  return dots == 3 ? "" : kMsg;
}

// Space-separated resolvers, each IPv4 or IPv4:port (port 53 when left out).
std::string Upstreams(std::string_view v) {
  size_t start = 0;
  while (start < v.size()) {
    size_t end = v.find(' ', start);
    if (end == std::string_view::npos) end = v.size();
    std::string_view one = v.substr(start, end - start);
    if (!one.empty()) {
      std::string with_port(one);
      if (one.find(':') == std::string_view::npos) with_port += ":53";
      if (!HostPort(with_port).empty() || with_port.ends_with(":0")) {
        return "has \"" + std::string(one) +
               "\", which is not IPV4 or IPV4:PORT; use e.g. \"192.0.2.53 192.0.2.54:5353\"";
      }
    }
    start = end + 1;
  }
  return "";
}

// A POSIX user or group name (useradd's default rule), or "" for "none".
static bool IsPosixName(std::string_view v) {
  return v.empty() ||
         (v.size() <= 32 && (v[0] == '_' || (v[0] >= 'a' && v[0] <= 'z')) &&
          AllOf(
              v, +[](char c) { return IsNameChar(c) && c != '.'; }));
}

std::string UserName(std::string_view v) {
  return IsPosixName(v)
             ? ""
             : "is not a valid user name; use e.g. nobody, or \"\" for the daemon's user";
}

std::string GroupName(std::string_view v) {
  return IsPosixName(v) ? ""
                        : "is not a valid group name; use e.g. warren, or \"\" for root's group";
}

std::string SimpleName(std::string_view v) {
  if (v.empty() || !AllOf(v, IsNameChar)) {
    return "is not a valid name; use letters, digits, '.', '_' or '-'";
  }
  return "";
}

std::string MirrorUrl(std::string_view v) {
  if (v.empty() || v.starts_with("http://") || v.starts_with("https://")) return "";
  return "is not an http:// or https:// URL; use e.g. http://deb.debian.org/debian, or \"\" for "
         "the host's apt sources";
}

std::string NonEmpty(std::string_view v) { return v.empty() ? "must not be empty" : ""; }

Result<uint64_t> ParseByteSize(std::string_view v) {
  static constexpr std::pair<std::string_view, int> kUnits[] = {
      {"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"T", 40}, {"G", 30},
      {"M", 20},   {"K", 10},   {"B", 0}};
  std::string_view number = v;
  int shift = 0;
  for (const auto& [unit, s] : kUnits) {
    if (number.ends_with(unit)) {
      number.remove_suffix(unit.size());
      shift = s;
      break;
    }
  }
  while (!number.empty() && number.back() == ' ') number.remove_suffix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  const double bytes = value * static_cast<double>(uint64_t{1} << shift);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() || value < 0 ||
      bytes >= 1.8e19) {
    return InvalidArgument("\"" + std::string(v) +
                           "\" is not a size; use bytes or a number with KiB, MiB, GiB or TiB "
                           "(e.g. \"20GiB\")");
  }
  return static_cast<uint64_t>(bytes);
}

std::string ByteSize(std::string_view v) {
  return ParseByteSize(v).ok()
             ? ""
             : "is not a size; use bytes or a number with KiB, MiB, GiB or TiB (e.g. \"20GiB\")";
}

std::string ByteSizeOrAuto(std::string_view v) {
  return v == "auto" || ParseByteSize(v).ok()
             ? ""
             : "is not a size; use \"auto\", bytes or a number with KiB, MiB, GiB or TiB "
               "(e.g. \"20GiB\")";
}

}  // namespace warren::config_checks

#include "net/egress.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "base/check.h"
#include "net/ip_alloc.h"

namespace warren {
namespace {

struct Range {
  uint32_t network;
  int len;
  uint32_t Mask() const { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }
  bool Contains(const Range& other) const {
    return other.len >= len && (other.network & Mask()) == network;
  }
  std::string Text() const { return FormatIpv4(network) + "/" + std::to_string(len); }
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

Result<Range> ParseRange(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("egress \"" + std::string(text) + "\": " + why);
  };
  if (text.find(':') != std::string_view::npos) {
    return bad("IPv6 ranges are not supported (a limited VM has no IPv6 at all)");
  }
  size_t slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  int len = 32;
  if (slash != std::string_view::npos) {
    std::string_view len_text = text.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 2 ||
        len_text.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(len_text)) > 32) {
      return bad("the prefix length must be 0..32");
    }
    len = std::stoi(std::string(len_text));
  }
  Result<uint32_t> ip = ParseIpv4(addr);
  if (!ip.ok()) return bad("not none, all, or an IPv4 address or range like 192.0.2.0/24");
  Range r{*ip, len};
  if ((r.network & r.Mask()) != r.network) {
    Range meant{r.network & r.Mask(), len};
    return bad("host bits are set; did you mean " + meant.Text() + "?");
  }
  return r;
}

// Sorted by address, ranges inside another dropped: what is left never
// overlaps (two prefixes either nest or are disjoint).
std::vector<std::string> Canonical(std::vector<Range> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.network != b.network ? a.network < b.network : a.len < b.len;
  });
  std::vector<Range> kept;
  for (const Range& r : ranges) {
    if (!kept.empty() && kept.back().Contains(r)) continue;
    kept.push_back(r);
  }
  std::vector<std::string> out;
  for (const Range& r : kept) out.push_back(r.Text());
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

}  // namespace

std::string EgressPolicy::Spec() const {
  switch (kind) {
    case Kind::kAll: return "all";
    case Kind::kNone: return "none";
    case Kind::kCidrs: return Join(cidrs, ",");
  }
  return "all";
}

Result<EgressPolicy> ParseEgressSpec(std::string_view spec) {
  spec = Trim(spec);
  EgressPolicy policy;
  if (spec == "all") return policy;
  if (spec == "none") {
    policy.kind = EgressPolicy::Kind::kNone;
    return policy;
  }
  if (spec.empty()) {
    return InvalidArgument("egress is empty: give none, all, or ranges like 192.0.2.0/24,10.0.0.0/8");
  }
  std::vector<Range> ranges;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view part = Trim(spec.substr(start, comma - start));
    start = comma + 1;
    if (part == "none" || part == "all") {
      return InvalidArgument("egress \"" + std::string(spec) + "\": " + std::string(part) +
                             " stands alone, it cannot be mixed with ranges");
    }
    if (part.empty()) {
      return InvalidArgument("egress \"" + std::string(spec) + "\" has an empty range");
    }
    ASSIGN_OR_RETURN(Range r, ParseRange(part));
    ranges.push_back(r);
  }
  if (ranges.size() > kMaxEgressCidrs) {
    return InvalidArgument("egress has " + std::to_string(ranges.size()) + " ranges; at most " +
                           std::to_string(kMaxEgressCidrs) + " (merge them into wider ones)");
  }
  policy.kind = EgressPolicy::Kind::kCidrs;
  policy.cidrs = Canonical(std::move(ranges));
  return policy;
}

std::string EgressTableName(std::string_view vm_id) {
  std::string name = "warren_egress_";
  for (char c : vm_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    name += ok ? c : '_';
  }
  return name;
}

std::string EgressRemoveScript(std::string_view vm_id) {
  // "add" first makes each delete valid whether or not the table exists.
  const std::string t = EgressTableName(vm_id);
  return "add table bridge " + t + "\n" + "delete table bridge " + t + "\n" +
         "add table ip " + t + "\n" + "delete table ip " + t + "\n";
}

std::string EgressInstallScript(const EgressTarget& g, const EgressPolicy& policy) {
  CHECK(policy.kind != EgressPolicy::Kind::kAll);
  const std::string t = EgressTableName(g.vm_id);
  const std::string tap = "\"" + g.tap + "\"";
  std::string allowed;
  if (policy.kind == EgressPolicy::Kind::kCidrs) {
    allowed = "    ip daddr { " + Join(policy.cidrs, ", ") + " } accept\n";
  }
  const std::string from_guest = "iifname \"" + g.bridge + "\" ip saddr " + g.ip;
  return EgressRemoveScript(g.vm_id) +
         "table bridge " + t + " {\n"
         "  chain prerouting {\n"
         "    type filter hook prerouting priority filter; policy accept;\n"
         "    iif " + tap + " ether type ip ip saddr != " + g.ip + " drop\n"
         "    iif " + tap + " ether type ip6 drop\n"
         "  }\n"
         "}\n"
         "table ip " + t + " {\n"
         "  chain forward {\n"
         "    type filter hook forward priority filter; policy accept;\n"
         "    " + from_guest + " jump egress\n"
         "  }\n"
         "  chain input {\n"
         "    type filter hook input priority filter; policy accept;\n"
         "    " + from_guest + " jump egress\n"
         "  }\n"
         "  chain egress {\n"
         "    ct state established,related accept\n"
         "    ip daddr " + g.gateway + " udp dport 53 accept\n"
         "    ip daddr " + g.gateway + " tcp dport 53 accept\n" +
         allowed +
         "    reject with icmp type admin-prohibited\n"
         "  }\n"
         "}\n";
}

}  // namespace warren

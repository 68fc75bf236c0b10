#include "dns/records.h"

#include <arpa/inet.h>

#include <cctype>

namespace warren {

bool IsDnsLabel(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Status DnsRecords::Set(std::string_view name, std::string_view ipv4) {
  if (!IsDnsLabel(name)) {
    return InvalidArgument("dns: \"" + std::string(name) +
                           "\" is not a DNS label (1-63 letters, digits or inner hyphens)");
  }
  Result<uint32_t> ip = ParseIpv4(ipv4);
  if (!ip.ok()) return InvalidArgument("dns: \"" + std::string(ipv4) + "\" is not an IPv4 address");
  std::string key = LowerAscii(name);

  MutexLock lock(&mu_);
  auto it = by_name_.find(key);
  if (it != by_name_.end()) {
    auto rev = by_ip_.find(it->second);
    if (rev != by_ip_.end() && rev->second == key) by_ip_.erase(rev);
  }
  by_name_[key] = *ip;
  by_ip_[*ip] = key;
  ++serial_;
  return Status::Ok();
}

void DnsRecords::Remove(std::string_view name) {
  std::string key = LowerAscii(name);
  MutexLock lock(&mu_);
  auto it = by_name_.find(key);
  if (it == by_name_.end()) return;
  auto rev = by_ip_.find(it->second);
  if (rev != by_ip_.end() && rev->second == key) by_ip_.erase(rev);
  by_name_.erase(it);
  ++serial_;
}

std::optional<uint32_t> DnsRecords::LookupA(std::string_view name) const {
  std::string key = LowerAscii(name);
  MutexLock lock(&mu_);
  auto it = by_name_.find(key);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> DnsRecords::LookupPtr(uint32_t ip) const {
  MutexLock lock(&mu_);
  auto it = by_ip_.find(ip);
  if (it == by_ip_.end()) return std::nullopt;
  return it->second;
}

std::vector<DnsEntry> DnsRecords::Snapshot() const {
  MutexLock lock(&mu_);
  std::vector<DnsEntry> out;
  out.reserve(by_name_.size());
  for (const auto& [name, ip] : by_name_) out.push_back({name, FormatIpv4(ip)});
  return out;
}

uint32_t DnsRecords::serial() const {
  MutexLock lock(&mu_);
  return serial_;
}

}  // namespace warren

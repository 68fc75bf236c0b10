#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "net/ip_alloc.h"  // ParseIpv4, FormatIpv4
#include "base/status.h"
#include "base/thread_annotations.h"

namespace warren {

// One VM's address record, as `warren dns ls` shows it.
struct DnsEntry {
  std::string name;  // lower case, one DNS label
  std::string ipv4;  // dotted quad

  bool operator==(const DnsEntry&) const = default;
};


// The in-memory map VM name → IPv4 (and the reverse) the DNS server answers from.
// The VM subsystem updates it on create/rename/delete; the DNS loop reads it per query,
// so a change is visible to the very next query.
//
// Names are single DNS labels (1..63 of [a-z0-9-], not starting or ending with '-'),
// compared case-insensitively (stored lower case). "ns" is answered by the zone itself
// (the NS host), so the VM layer should refuse that name.
//
// Thread-safe: one leaf Mutex guards everything; no I/O and no calls out under it.
class DnsRecords {
 public:
  DnsRecords() = default;
  DnsRecords(const DnsRecords&) = delete;
  DnsRecords& operator=(const DnsRecords&) = delete;

  // Maps `name` to `ipv4`, replacing an earlier address of that name. If another name
  // held the same address, the reverse (PTR) now points to `name`. InvalidArgument for a
  // name that is not a DNS label or an address that is not a dotted quad.
  Status Set(std::string_view name, std::string_view ipv4) EXCLUDES(mu_);
  // Forgets `name` (and its reverse). A no-op when absent.
  void Remove(std::string_view name) EXCLUDES(mu_);

  // Case-insensitive forward lookup.
  std::optional<uint32_t> LookupA(std::string_view name) const EXCLUDES(mu_);
  // Reverse lookup of a host-order address; the name is lower case.
  std::optional<std::string> LookupPtr(uint32_t ip) const EXCLUDES(mu_);
  // All entries, sorted by name.
  std::vector<DnsEntry> Snapshot() const EXCLUDES(mu_);
  // Bumped by every change; the zone's SOA serial, so secondaries/caches can tell.
  uint32_t serial() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_{LockRank::kLeaf, "dns_records"};
  std::map<std::string, uint32_t, std::less<>> by_name_ GUARDED_BY(mu_);
  std::map<uint32_t, std::string> by_ip_ GUARDED_BY(mu_);
  uint32_t serial_ GUARDED_BY(mu_) = 1;
};

// True for a valid single DNS label (case-insensitive letters, digits, inner hyphens).
bool IsDnsLabel(std::string_view label);
// ASCII lower case.
std::string LowerAscii(std::string_view s);

}  // namespace warren

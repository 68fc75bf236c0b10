#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dns/resolver.h"

namespace warren {

// Remembers Answer()'s output so repeated questions skip ldns entirely (parsing and
// building a response costs several microseconds of malloc; a hit is a hash lookup).
//
// Sound because Answer() is a pure function of the query bytes, the zone, the records and
// the transport/size limits, and of the query ID only in that it copies it: the key is
// the query without its ID (plus the transport), the value is stamped with the asking
// query's ID. Every records change bumps DnsRecords::serial(), which empties the cache;
// the zone and max_udp are fixed per server.
//
// Not thread-safe: owned by one server loop.
class AnswerCache {
 public:
  explicit AnswerCache(size_t max_entries) : max_entries_(max_entries) {}

  // The response for `query_wire` if cached under `serial`, with the query's ID.
  std::optional<std::string> Find(std::string_view query_wire, Transport transport,
                                  uint32_t serial);
  // Caches `response_wire` (computed from records at `serial`) for `query_wire`. When
  // full, starts over: entries are cheap to recompute and clients repeat few questions.
  void Insert(std::string_view query_wire, Transport transport, uint32_t serial,
              const std::string& response_wire);
  size_t size() const { return entries_.size(); }

 private:
  static std::string Key(std::string_view query_wire, Transport transport);
  void Sync(uint32_t serial);

  const size_t max_entries_;
  uint32_t serial_ = 0;
  std::unordered_map<std::string, std::string> entries_;
};

}  // namespace warren

#include "dns/answer_cache.h"

namespace warren {
namespace {

constexpr size_t kIdSize = 2;  // the DNS message ID leads every header (RFC 1035 §4.1.1)

}  // namespace

std::string AnswerCache::Key(std::string_view query_wire, Transport transport) {
  std::string key(1, transport == Transport::kUdp ? 'u' : 't');
  key.append(query_wire.substr(kIdSize));
  return key;
}

void AnswerCache::Sync(uint32_t serial) {
  if (serial == serial_) return;
  entries_.clear();
  serial_ = serial;
}

std::optional<std::string> AnswerCache::Find(std::string_view query_wire, Transport transport,
                                             uint32_t serial) {
  Sync(serial);
  if (query_wire.size() < kIdSize || entries_.empty()) return std::nullopt;
  auto it = entries_.find(Key(query_wire, transport));
  if (it == entries_.end()) return std::nullopt;
  std::string out = it->second;
  out.replace(0, kIdSize, query_wire.substr(0, kIdSize));
  return out;
}

void AnswerCache::Insert(std::string_view query_wire, Transport transport, uint32_t serial,
                         const std::string& response_wire) {
  Sync(serial);
  if (query_wire.size() < kIdSize || response_wire.size() < kIdSize || max_entries_ == 0) {
    return;
  }
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_.emplace(Key(query_wire, transport), response_wire);
}

}  // namespace warren

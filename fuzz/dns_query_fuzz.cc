// Any bytes a guest or host process can send must leave Answer() with a response or an
// error, never a crash, leak or out-of-bounds read (run with -DWARREN_SANITIZE=address).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dns/records.h"
#include "dns/resolver.h"

namespace {

const warren::DnsRecords& Records() {
  static warren::DnsRecords* records = [] {
    auto* r = new warren::DnsRecords();
    (void)r->Set("web", "10.77.0.5");
    (void)r->Set("db", "10.77.0.6");
    return r;
  }();
  return *records;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  warren::Zone zone;
  zone.ns_ipv4 = "10.77.0.1";
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  // The first byte picks the transport and our UDP size, so truncation gets exercised.
  uint16_t max_udp = size > 0 ? static_cast<uint16_t>(32 + data[0] * 8) : 512;
  (void)warren::Answer(wire, zone, Records(), warren::Transport::kUdp, max_udp);
  (void)warren::Answer(wire, zone, Records(), warren::Transport::kTcp, max_udp);
  (void)warren::IsOutsideZone(wire, zone, Records());
  return 0;
}

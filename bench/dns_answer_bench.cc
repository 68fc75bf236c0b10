// Cost of one Answer() call (parse, look up, build, serialize), apart from the sockets.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "dns/records.h"
#include "dns/resolver.h"

// After the C++ headers: ldns's common.h can redefine `bool` for C, which breaks <optional>.
#include <ldns/ldns.h>

namespace {

std::string QueryWire(const char* name, ldns_rr_type type) {
  ldns_pkt* q = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, LDNS_RR_CLASS_IN, LDNS_RD);
  uint8_t* buf = nullptr;
  size_t size = 0;
  (void)ldns_pkt2wire(&buf, q, &size);
  std::string out(reinterpret_cast<char*>(buf), size);
  std::free(buf);
  ldns_pkt_free(q);
  return out;
}

void Run(benchmark::State& state, const char* name, ldns_rr_type type) {
  warren::DnsRecords records;
  for (int i = 0; i < 100; ++i) {
    (void)records.Set("vm" + std::to_string(i), "10.77.0." + std::to_string(i + 1));
  }
  warren::Zone zone;
  std::string q = QueryWire(name, type);
  for (auto _ : state) {
    auto r = warren::Answer(q, zone, records, warren::Transport::kUdp, warren::kDefaultMaxUdp);
    benchmark::DoNotOptimize(r);
  }
}

void BM_AnswerA(benchmark::State& s) { Run(s, "vm42.warren.internal.", LDNS_RR_TYPE_A); }
void BM_AnswerNxdomain(benchmark::State& s) { Run(s, "nope.warren.internal.", LDNS_RR_TYPE_A); }
void BM_AnswerRefused(benchmark::State& s) { Run(s, "example.com.", LDNS_RR_TYPE_A); }
BENCHMARK(BM_AnswerA);
BENCHMARK(BM_AnswerNxdomain);
BENCHMARK(BM_AnswerRefused);

}  // namespace

BENCHMARK_MAIN();

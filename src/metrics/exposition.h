#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/histogram.h"

namespace warren::metrics {

// The Content-Type of Prometheus' text exposition format 0.0.4.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Everything a scrape reports, copied out of the subsystems by the daemon
// (daemon_metrics.cc) with no lock of theirs held while it is rendered.
struct Snapshot {
  std::map<std::string, int64_t> vms_by_state;  // every state, 0s included
  struct VmUsage {
    std::string vm;  // name
    double cpu_seconds = 0;
    uint64_t rss_bytes = 0;
  };
  std::vector<VmUsage> vm_usage;  // running VMs whose QEMU could be read

  struct Ops {
    std::string kind, result;  // result: succeeded | failed | cancelled
    HistogramData duration;
  };
  std::vector<Ops> ops;
  int64_t ops_running = 0;

  struct Rpc {
    std::string method;
    std::map<std::string, uint64_t> calls_by_result;  // "ok" or an error code's slug
    HistogramData duration;
  };
  std::vector<Rpc> rpc;
  uint64_t rpc_unknown_method = 0;

  struct Taps {
    uint64_t ready = 0, warm_takes = 0, cold_takes = 0, created = 0, refill_errors = 0;
  };
  std::optional<Taps> taps;  // absent before the VM network is up

  // By listener ("host", "vm") and outcome ("noerror", "nxdomain", "refused",
  // "servfail", "formerr", "other_rcode", "truncated", "forwarded", "malformed").
  std::map<std::string, std::map<std::string, uint64_t>> dns_queries;
  std::map<std::string, int64_t> sessions_by_state;
};

// The snapshot in the text exposition format 0.0.4 (prometheus-cpp's
// serializer): every family `warren_*` with HELP and TYPE lines, counters
// ending in `_total`, durations in `_seconds`, sizes in `_bytes`; label values
// escaped. Families with no series still print HELP and TYPE.
std::string Render(const Snapshot& snapshot);

}  // namespace warren::metrics

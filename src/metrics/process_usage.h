#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string_view>

#include "base/status.h"

namespace warren::metrics {

// What one process (a VM's QEMU) costs the host.
struct ProcessUsage {
  double cpu_seconds = 0;  // user + system, since it started
  uint64_t rss_bytes = 0;  // resident set (VmRSS)
};

// The seam the daemon reads usage through (DaemonDeps::process_usage), so
// tests on fake pids never read whatever real process has that pid.
// NotFound when the process is gone.
using ProcessUsageReader = std::function<Result<ProcessUsage>(pid_t pid)>;

// The real reader: /proc/<pid>/stat and /proc/<pid>/status. Two small reads,
// no lock, no guest I/O: safe on a scrape.
Result<ProcessUsage> ReadProcessUsage(pid_t pid);

// Parsers, apart for tests. `stat` is /proc/<pid>/stat (comm may hold spaces
// and parentheses: fields are counted from the last ')'); `ticks_per_second`
// is sysconf(_SC_CLK_TCK). InvalidArgument when malformed.
Result<double> CpuSecondsFromStat(std::string_view stat, long ticks_per_second);
// VmRSS from /proc/<pid>/status, in bytes (0 for a kernel thread, which has none).
Result<uint64_t> RssBytesFromStatus(std::string_view status);

}  // namespace warren::metrics

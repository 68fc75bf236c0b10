#include "metrics/process_usage.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace warren::metrics {
namespace {

Result<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": no such process");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool ParseU64(std::string_view s, uint64_t* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

Result<double> CpuSecondsFromStat(std::string_view stat, long ticks_per_second) {
  // Fields after "(comm)": 3 state, 4 ppid, ... 14 utime, 15 stime (proc(5)).
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) {
    return InvalidArgument("/proc stat: no \"(comm)\" field");
  }
  std::string_view rest = stat.substr(close + 1);
  uint64_t utime = 0, stime = 0;
  int field = 2;
  while (!rest.empty() && field < 15) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const size_t end = std::min(rest.find(' '), rest.size());
    const std::string_view token = rest.substr(0, end);
    rest.remove_prefix(end);
    ++field;
    if (field == 14 && !ParseU64(token, &utime)) return InvalidArgument("/proc stat: bad utime");
    if (field == 15 && !ParseU64(token, &stime)) return InvalidArgument("/proc stat: bad stime");
  }
  if (field < 15) return InvalidArgument("/proc stat: too few fields");
  return static_cast<double>(utime + stime) / static_cast<double>(ticks_per_second);
}

Result<uint64_t> RssBytesFromStatus(std::string_view status) {
  constexpr std::string_view kKey = "VmRSS:";
  for (size_t pos = 0; pos < status.size();) {
    const size_t eol = std::min(status.find('\n', pos), status.size());
    std::string_view line = status.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.starts_with(kKey)) continue;
    line.remove_prefix(kKey.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    uint64_t kib = 0;
    if (!line.ends_with(" kB") || !ParseU64(line.substr(0, line.size() - 3), &kib)) {
      return InvalidArgument("/proc status: bad VmRSS line");
    }
    return kib * 1024;
  }
  return uint64_t{0};
}

Result<ProcessUsage> ReadProcessUsage(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  ASSIGN_OR_RETURN(std::string stat, ReadSmallFile(dir + "/stat"));
  ASSIGN_OR_RETURN(std::string status, ReadSmallFile(dir + "/status"));
  ProcessUsage usage;
  ASSIGN_OR_RETURN(usage.cpu_seconds, CpuSecondsFromStat(stat, ::sysconf(_SC_CLK_TCK)));
  ASSIGN_OR_RETURN(usage.rss_bytes, RssBytesFromStatus(status));
  return usage;
}

}  // namespace warren::metrics

#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "base/status.h"

namespace warren {

// The kernel's OOM killer, as the daemon deals with it: which process it should
// pick (oom_score_adj) and whether it picked one (the kernel log).

// Writes `value` (-1000..1000) to /proc/PID/oom_score_adj (`pid` 0: this
// process). Raising a process's value needs no privilege; lowering it below
// what it had needs CAP_SYS_RESOURCE.
Status SetOomScoreAdj(pid_t pid, int value);

// True when one kernel log line says the OOM killer killed `pid`: the global
// killer's "Out of memory: Killed process PID (comm) ..." and a memory
// cgroup's "Memory cgroup out of memory: Killed process PID (comm) ..." both
// name it as "Killed process PID (".
bool LogLineNamesOomKill(std::string_view line, pid_t pid);

// MemTotal of /proc/meminfo (or a file like it), in bytes.
Result<uint64_t> HostMemTotalBytes(const std::filesystem::path& meminfo = "/proc/meminfo");

// Reads the kernel log (`kmsg`: /dev/kmsg, one record per read, or a plain
// file of lines for tests) from its oldest retained record and answers
// whether any line names an OOM kill of `pid`. Unavailable when it cannot be
// read (it needs root, or CAP_SYSLOG).
Result<bool> KernelLogNamesOomKill(const std::filesystem::path& kmsg, pid_t pid);

}  // namespace warren

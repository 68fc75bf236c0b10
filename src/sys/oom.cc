#include "sys/oom.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "sys/files.h"
#include "sys/unique_fd.h"

namespace warren {

Status SetOomScoreAdj(pid_t pid, int value) {
  const std::string path =
      pid == 0 ? "/proc/self/oom_score_adj" : "/proc/" + std::to_string(pid) + "/oom_score_adj";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path, errno);
  if (!WriteFully(fd.get(), std::to_string(value))) {
    return ErrnoError("set " + path + " to " + std::to_string(value), errno);
  }
  return Status::Ok();
}

bool LogLineNamesOomKill(std::string_view line, pid_t pid) {
  constexpr std::string_view kKilled = "Killed process ";
  for (size_t at = line.find(kKilled); at != std::string_view::npos;
       at = line.find(kKilled, at + 1)) {
    std::string_view rest = line.substr(at + kKilled.size());
    pid_t found = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), found);
    if (ec == std::errc() && found == pid && std::string_view(end, rest.data() + rest.size())
                                                     .starts_with(" (")) {
      return true;
    }
  }
  return false;
}

Result<uint64_t> HostMemTotalBytes(const std::filesystem::path& meminfo) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(meminfo));
  constexpr std::string_view kKey = "MemTotal:";
  size_t at = text.find(kKey);
  if (at != std::string::npos) {
    std::string_view rest = std::string_view(text).substr(at + kKey.size());
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    uint64_t kib = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kib);
    if (ec == std::errc() &&
        std::string_view(end, rest.data() + rest.size()).starts_with(" kB")) {
      return kib * 1024;
    }
  }
  return Internal("no \"MemTotal: N kB\" line in " + meminfo.string());
}

Result<bool> KernelLogNamesOomKill(const std::filesystem::path& kmsg, pid_t pid) {
  // Non-blocking: /dev/kmsg answers EAGAIN once the newest record was read.
  UniqueFd fd(::open(kmsg.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return Unavailable("cannot read the kernel log " + kmsg.string() + ": " +
                                      std::strerror(errno));
  std::string carry;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    // EPIPE: records were overwritten while reading; the reader skips ahead.
    if (n < 0 && errno == EPIPE) continue;
    if (n <= 0) break;
    carry.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl = carry.find('\n'); nl != std::string::npos; nl = carry.find('\n', start)) {
      if (LogLineNamesOomKill(std::string_view(carry).substr(start, nl - start), pid)) return true;
      start = nl + 1;
    }
    carry.erase(0, start);
  }
  return LogLineNamesOomKill(carry, pid);
}

}  // namespace warren

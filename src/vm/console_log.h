// The guest's serial console log, as shown to a user whose VM did not become
// ready: the cause (a kernel panic, an emergency shell, cloud-init rejecting
// its configuration) is almost always in the last lines, so errors carry them.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "base/status.h"

namespace warren {

// The last `max_lines` non-empty lines of the console log at `log`, each cut
// to `max_width` bytes (never inside a UTF-8 sequence) and cleaned for a
// terminal: ANSI escape sequences and control characters removed, "\r\n"
// line ends handled. Reads at most the last 64 KiB. "" when the file is
// missing, unreadable or holds nothing printable. Pure apart from the read.
std::string ConsoleLogTail(const std::filesystem::path &log, int max_lines = 15,
                           size_t max_width = 160);

// `st` (not OK) with the console log appended, so the cause is one command
// away: "...\nconsole log SHOWN (last lines):\n  | line\n  | ...", or
// "...; the console log SHOWN is empty" when the guest printed nothing. The
// tail is read from `read_from`; `shown` is where the user finds the log
// afterwards (they differ when the file is moved before the error is seen).
Status WithConsoleLog(const Status &st, const std::filesystem::path &read_from,
                      const std::filesystem::path &shown);

} // namespace warren

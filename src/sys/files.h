#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>
#include <string>

#include "base/status.h"

namespace warren {

// Reads a whole file. Errors name the path and the errno text.
Result<std::string> ReadFileToString(const std::filesystem::path& path);

// Writes `text` to `path` through `path`.tmp (created with `mode`, fsync'd) and
// a rename, so readers and a crash see the old file or the whole new one.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view text,
                           mode_t mode = 0644);

// Opens `path` with `flags` (O_RDONLY for a file, | O_DIRECTORY for a
// directory) and fsyncs it: its data, or a directory's entries, are durable.
Status SyncPath(const std::filesystem::path& path, int flags);

// Writes all of `bytes` to `fd`, retrying short writes and EINTR. False on any
// other error or a zero-length write (errno says which); a caller on a pipe or
// socket treats that as the reader gone.
bool WriteFully(int fd, std::string_view bytes);

}  // namespace warren

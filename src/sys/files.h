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

}  // namespace warren

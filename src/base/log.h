#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "base/status.h"

namespace warren {

// Installs spdlog's default logger: stderr, plus `file` when given. The daemon
// calls it once at start; the CLI leaves logging at warnings on stderr.
// `level` is one of trace, debug, info, warn, error.
Status InitLogging(std::optional<std::filesystem::path> file, std::string_view level);

}  // namespace warren

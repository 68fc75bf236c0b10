#pragma once

#include <filesystem>
#include <string>

#include "base/status.h"

namespace warren {

// Reads a whole file. Errors name the path and the errno text.
Result<std::string> ReadFileToString(const std::filesystem::path& path);

}  // namespace warren

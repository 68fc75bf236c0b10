#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/context.h"

namespace warren::cli {

// `vm create --publish SPEC` (repeatable) into `specs`, sent as caps.publish.
void AddPublishFlag(CLI::App& create, std::vector<std::string>& specs);
// `vm publish NAME SPEC`, `vm unpublish NAME SPEC`, `vm ports NAME [--json]`.
void AddPublishCommands(CLI::App& vm, CliContext& ctx);

}  // namespace warren::cli

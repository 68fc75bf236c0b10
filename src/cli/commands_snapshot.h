#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace warren::cli {

// `vm snapshot`, `vm restore` (under the `vm` command) and `snapshot ...`.
void AddVmSnapshotCommands(CLI::App& vm, CliContext& ctx);
void AddSnapshotCommands(CLI::App& app, CliContext& ctx);

}  // namespace warren::cli

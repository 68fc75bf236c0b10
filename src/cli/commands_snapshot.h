#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.h"

namespace warren::cli {

// `vm snapshot`, `vm restore` (under the `vm` command) and `snapshot ...`.
void AddVmSnapshotCommands(CLI::App& vm, CliContext& ctx);
void AddSnapshotCommands(CLI::App& app, CliContext& ctx);
// `image snapshot IMAGE [SNAP]` (under the `image` command).
void AddImageSnapshotCommand(CLI::App& image, CliContext& ctx);
// Starts image.snapshot and follows it as the other op commands do.
void SnapshotImage(CliContext& ctx, const std::string& image, const std::string& snap,
                   bool detach, bool verbose);

}  // namespace warren::cli

#pragma once

#include <string_view>
#include <vector>

namespace warren {

// A guest-side file shipped inside the warren binary (scripts, config, units),
// generated at build time from src/image/guest/ by embed.cmake.
struct GuestAsset {
  std::string_view name;     // file name in src/image/guest/, e.g. "apply-seed"
  std::string_view content;  // exact bytes
};

// Every embedded asset, in a stable (build-defined) order. Immutable;
// thread-safe.
const std::vector<GuestAsset>& GuestAssets();

// The guest agent (/usr/lib/warren/warren-agent): a static x86-64 program
// built from src/image/guest/warren-agent.c, its exact bytes. Thread-safe.
std::string_view GuestAgentProgram();

}  // namespace warren

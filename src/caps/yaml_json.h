#pragma once

// A YAML document (a user's #cloud-config) as JSON, so warren can merge it
// with its own cloud-config and write the result back (JSON is YAML). libyaml
// parses; plain scalars resolve as YAML 1.1 does for cloud-init (true/false/
// yes/no/on/off, null/~, integers, floats), quoted ones stay strings. Aliases
// are expanded (at most 100,000 nodes in all). InvalidArgument with the
// line of a syntax error.

#include <nlohmann/json.hpp>
#include <string_view>

#include "base/status.h"

namespace warren {

Result<nlohmann::json> YamlToJson(std::string_view text);

}  // namespace warren

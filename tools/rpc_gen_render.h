#pragma once

// Renders rpc.methods' description of the table (Dispatcher::Describe()["methods"]).

#include <nlohmann/json.hpp>
#include <string>

namespace warren::tools {

// docs/RPC.md: framing, errors, events, then every method.
std::string RenderMarkdown(const nlohmann::json& methods);
// web/gen/rpc.js: an ES module, one `export function vmCreate(rpc, params)` per method.
std::string RenderJs(const nlohmann::json& methods);
// "vm.create" → "vmCreate", "session.ls" → "sessionLs".
std::string JsName(const std::string& method);

}  // namespace warren::tools

#include "tools/rpc_gen_render.h"

#include <cctype>
#include <cstdint>
#include <limits>
#include <sstream>

namespace warren::tools {

using nlohmann::json;

namespace {

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// "1..64", "≥ 0", "" for unbounded integers; "≤ N bytes" for strings.
std::string Range(const json& p) {
  if (p.contains("min")) {
    const int64_t lo = p["min"], hi = p["max"];
    const bool no_lo = lo == std::numeric_limits<int64_t>::min();
    const bool no_hi = hi == std::numeric_limits<int64_t>::max();
    if (no_lo && no_hi) return "";
    if (no_hi) return ">= " + std::to_string(lo);
    if (no_lo) return "<= " + std::to_string(hi);
    return std::to_string(lo) + ".." + std::to_string(hi);
  }
  if (p.contains("max_bytes")) return "<= " + p["max_bytes"].dump() + " bytes";
  return "";
}

std::string JsType(const std::string& type) {
  if (type == "string") return "string";
  if (type == "integer") return "number";
  if (type == "boolean") return "boolean";
  if (type == "array of strings") return "string[]";
  if (type == "object of strings") return "Object<string, string>";
  return "*";
}

// Keeps a doc string inside a JSDoc comment.
std::string JsDocText(std::string s) {
  for (size_t i = 0; (i = s.find("*/", i)) != std::string::npos;) s.replace(i, 2, "* /");
  return s;
}

const char* kMarkdownHeader = R"(# warren RPC reference

<!-- Generated from the daemon's dispatch table by tools/rpc_gen.cc: do not edit.
     Refresh after changing a method: `ninja -C build rpc_docs` (then commit this
     file and web/gen/rpc.js; the CTest `rpc_gen_drift` fails while they are stale). -->

Generated from the daemon's dispatch table (`ninja -C build rpc_docs` refreshes it; the
`rpc_gen_drift` test fails in CI when it is stale). Every client — the CLI, the web UI
(`web/gen/rpc.js`, generated from the same table), the containerd shim — speaks this API.
`rpc.methods` returns the same description at run time.

## Framing

- **Unix socket** (`$root/run/warren.sock`; `warren daemon` prints it): frames of
  `u32 big-endian length | u8 kind | payload`. Kind 1 carries one JSON-RPC 2.0 message
  (request, response or notification); kind 2 carries binary stream data:
  `u32 big-endian stream id | u8 channel (0 stdin, 1 stdout, 2 stderr, 3 control) | bytes`,
  so session I/O never needs escaping. Control payloads are JSON (`{"eof":true}`,
  `{"signal":"INT"}`, `{"resize":[cols,rows]}`, `{"ack":N}`, `{"ready":true}`).
- **WebSocket** (`GET /ws` on the web listener, after the token login): a text frame is one
  JSON-RPC message exactly as above, a binary frame is the payload of a kind-2 stream frame.
  Same dispatcher, same methods.
- Requests on one connection run in order, one at a time; a long call (a `follow`, an
  attach, `events.subscribe`) occupies its connection until it ends, so open another
  connection for other calls. Cancel a call with the notification
  `{"jsonrpc":"2.0","method":"$/cancel","params":{"id":<the call's id>}}`; closing the
  connection cancels its calls too.

## Errors

Errors are JSON-RPC error objects whose `data.code` names the exact error
(`{"code":-32001,"message":"no VM \"web\"; see `warren vm ls`","data":{"code":"not_found"}}`).
Messages name the object and, where there is one, the fix. Every method can return:

| code | data.code | when |
|---|---|---|
| -32602 | invalid_argument | params are not an object, have an unknown member, a member of the wrong type or out of range, or lack a required one (the message names the field) |
| -32601 | | no such method |
| -32004 | unavailable | a mutating method while the daemon shuts down |
| -32603 | internal | a bug (the daemon logs it) |

Other codes: -32001 not_found, -32002 already_exists, -32003 failed_precondition,
-32005 cancelled, -32006 deadline_exceeded, -32007 resource_exhausted.

## Events

`events.subscribe` {kinds?: ["vm","op","image","session"]} stays open and sends

```json
{"jsonrpc":"2.0","method":"event","params":{"seq":12,"time_ms":1790000000000,"kind":"vm",
 "action":"changed","target":"web1","data":{"name":"web1","state":"running","...":"..."}}}
```

| kind | actions | target | data |
|---|---|---|---|
| vm | created, changed (every state or step written), deleted | VM name | the VM as `vm.list` shows it; `{}` on deleted |
| op | started, progress, ended | op id | the op as `op.get` returns it |
| image | created, deleted | image name | the image as `image.inspect` returns it; `{}` on deleted |
| session | created, changed (an attacher came or went), ended | session id | the session as a `session.ls` row |
| meta | subscribed (first, seq = last event before it), overflow (`data.dropped`: events this client lost by reading too slowly) | "" | |

`seq` grows by one per event daemon-wide (meta events repeat the last one or are 0).
Subscribe first, then list: every change after the `subscribed` event is delivered.
After an `overflow`, list again.

## Methods
)";

void RenderParams(std::ostringstream& o, const json& params) {
  if (params.empty()) {
    o << "Params: none.\n\n";
    return;
  }
  o << "| param | type | required | range | meaning |\n|---|---|---|---|---|\n";
  for (const json& p : params) {
    o << "| `" << Str(p, "name") << "` | " << Str(p, "type") << " | "
      << (p.value("required", false) ? "yes" : "no") << " | " << Range(p) << " | " << Str(p, "doc")
      << " |\n";
  }
  o << "\n";
}

}  // namespace

std::string JsName(const std::string& method) {
  std::string out;
  bool upper = false;
  for (char c : method) {
    if (c == '.' || c == '_' || c == '-') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

std::string RenderMarkdown(const json& methods) {
  std::ostringstream o;
  o << kMarkdownHeader << "\n";
  for (const json& m : methods) {
    o << "- [`" << Str(m, "name") << "`](#" << JsName(Str(m, "name")) << ")\n";
  }
  o << "\n";
  for (const json& m : methods) {
    const std::string name = Str(m, "name");
    o << "### <a id=\"" << JsName(name) << "\"></a>`" << name << "`"
      << (m.value("mutating", false) ? " (mutating)" : "") << "\n\n";
    o << Str(m, "summary") << "\n\n";
    RenderParams(o, m.value("params", json::array()));
    o << "Result: `" << Str(m, "result") << "`\n\n";
    if (!Str(m, "notifications").empty()) {
      o << "Notifications: " << Str(m, "notifications") << "\n\n";
    }
    const json errors = m.value("errors", json::array());
    if (!errors.empty()) {
      o << "Errors:\n";
      for (const json& e : errors) {
        o << "- " << e["rpc_code"].dump() << " `" << Str(e, "code") << "`: " << Str(e, "when")
          << "\n";
      }
      o << "\n";
    }
  }
  return o.str();
}

std::string RenderJs(const json& methods) {
  std::ostringstream o;
  o << "// Generated from warren's dispatch table by tools/rpc_gen.cc: do not edit.\n"
       "// Refresh: `ninja -C build rpc_docs` (see docs/RPC.md). One function per method;\n"
       "// `rpc` is any object with call(method, params) -> Promise (the page's WebSocket\n"
       "// client), whose notifications (op.progress, event, ...) it delivers itself.\n\n"
       "/** Every method name the daemon serves. */\n"
       "export const METHODS = Object.freeze([\n";
  for (const json& m : methods) o << "  \"" << Str(m, "name") << "\",\n";
  o << "]);\n\n/** The kinds `events.subscribe` accepts. */\n"
       "export const EVENT_KINDS = Object.freeze([\"vm\", \"op\", \"image\", \"session\"]);\n";
  for (const json& m : methods) {
    const std::string name = Str(m, "name");
    const json params = m.value("params", json::array());
    bool any_required = false;
    for (const json& p : params) any_required = any_required || p.value("required", false);
    o << "\n/**\n * " << JsDocText(Str(m, "summary")) << "\n";
    if (m.value("mutating", false)) o << " * Mutating.\n";
    o << " * @param {{call: function(string, Object): Promise<*>}} rpc\n";
    o << " * @param {Object} " << (any_required ? "params" : "[params]") << "\n";
    for (const json& p : params) {
      const bool req = p.value("required", false);
      const std::string range = Range(p);
      o << " * @param {" << JsType(Str(p, "type")) << "} " << (req ? "" : "[") << "params."
        << Str(p, "name") << (req ? "" : "]") << " " << JsDocText(Str(p, "doc"))
        << (range.empty() ? "" : " (" + range + ")") << "\n";
    }
    o << " * @returns {Promise<Object>} " << JsDocText(Str(m, "result")) << "\n";
    for (const json& e : m.value("errors", json::array())) {
      o << " * @throws " << Str(e, "code") << ": " << JsDocText(Str(e, "when")) << "\n";
    }
    o << " */\nexport function " << JsName(name) << "(rpc, params = {}) {\n  return rpc.call(\""
      << name << "\", params);\n}\n";
  }
  return o.str();
}

}  // namespace warren::tools

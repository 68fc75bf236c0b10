#pragma once

#include <memory>

#include "rpc/dispatcher.h"

namespace warren::rpc::testing {

// A Dispatcher for transport tests:
//   echo {…}              → the params
//   need_name {name}      → {"hello": name}; typed request, -32602 naming "name"
//   sleep {ms}            → notifies "started", then waits ms or until the stop
//                           token fires (→ Cancelled)
//   notify_n {n}          → n "progress" notifications {i}, then {"sent": n}
//   stream_echo {stream}  → registers a sink for `stream`, notifies "ready", echoes
//                           stdin chunks to stdout, returns {"bytes": total} on eof
//   stream_control {stream} → like stream_echo, but reports each control
//                           frame on stdout ("ok:<payload>\n" / "refused\n");
//                           returns {"eof": true} on an eof control frame
//   untyped_control {stream} → a sink that reads control payloads as untyped
//                           JSON, as the session methods once did (it throws on
//                           {"resize":["a",1]}); runs until cancelled
//   fail {code}           → the Status of that code slug ("not_found", ...)
//   mutate {}             → {} (kMutating)
std::unique_ptr<Dispatcher> MakeTestDispatcher();

}  // namespace warren::rpc::testing

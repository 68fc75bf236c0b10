#pragma once

// The JSON of the resources methods return, in one place, so that an event's
// data is exactly what a listing shows (vm.list rows, session.ls rows).

#include <nlohmann/json.hpp>
#include <string_view>

#include "session/session_registry.h"
#include "store/store.h"

namespace warren::rpc {

// VmRecordToJson plus "dns_name" when the daemon serves a DNS domain ("" = none).
nlohmann::json VmJson(const VmRecord& vm, std::string_view dns_domain);
// id, name, vm, argv, tty, state, error, started_ms, ended_ms, attached,
// output_bytes, exit_code (null while running).
nlohmann::json SessionJson(const SessionInfo& info);

}  // namespace warren::rpc

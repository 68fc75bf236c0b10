#include "rpc/resource_json.h"

#include <string>

#include "vm/vm_manager.h"

namespace warren::rpc {

using nlohmann::json;

json VmJson(const VmRecord& vm, std::string_view dns_domain) {
  json j = VmRecordToJson(vm);
  if (!dns_domain.empty()) j["dns_name"] = vm.name + "." + std::string(dns_domain);
  return j;
}

json SessionJson(const SessionInfo& i) {
  json j = {{"id", i.id},
            {"name", i.name},
            {"vm", i.vm},
            {"argv", i.argv},
            {"tty", i.tty},
            {"state", i.state},
            {"error", i.error},
            {"started_ms", i.started_ms},
            {"ended_ms", i.ended_ms},
            {"attached", i.attached},
            {"output_bytes", i.output_bytes}};
  j["exit_code"] = i.exit_code ? json(*i.exit_code) : json(nullptr);
  return j;
}

}  // namespace warren::rpc

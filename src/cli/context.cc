#include "cli/context.h"

#include <cstdio>
#include <cstdlib>

namespace warren::cli {

std::filesystem::path CliContext::SocketPath() const {
  if (!opts.socket.empty()) return opts.socket;
  return ResolveLayout().socket;
}

Result<rpc::Client*> CliContext::Client() {
  if (!client_) {
    ASSIGN_OR_RETURN(client_, rpc::Client::Connect(SocketPath()));
  }
  return client_.get();
}

Result<nlohmann::json> CliContext::Call(std::string_view method, const nlohmann::json& params,
                                        const NotifyFn& on_notify, const StreamFn& on_stream) {
  ASSIGN_OR_RETURN(rpc::Client * client, Client());
  return client->Call(method, params.is_null() ? nlohmann::json::object() : params, on_notify,
                      on_stream);
}

void CliContext::Fail(const Status& status) {
  std::fprintf(stderr, "warren: %s\n", status.message().c_str());
  switch (status.code()) {
    case Code::kInvalidArgument: exit_code = kExitUsage; break;
    case Code::kUnavailable: exit_code = client_ ? kExitFailed : kExitUnreachable; break;
    default: exit_code = kExitFailed; break;
  }
}

}  // namespace warren::cli

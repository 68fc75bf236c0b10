// web.*: the web UI's address and login token.
#include "rpc/services.h"

namespace warren::rpc {

std::vector<MethodRow> WebMethods(const Services& s) {
  return {
      Method<NoParams>("web.info", Mutation::kReadOnly,
                       {.summary = "The web UI's address, with the login token in its URL.",
                        .result = "{enabled, url, listen, error?}",
                        .errors = {}},
                       [s](const NoParams&, CallContext&) -> Result<nlohmann::json> {
                         if (!s.web.info) return nlohmann::json{{"enabled", false}};
                         return s.web.info();
                       }),
      // Mutating: it replaces the token file and logs every browser out.
      Method<NoParams>("web.rotate", Mutation::kMutating,
                       {.summary = "Issues a new login token and ends every web login and WebSocket.",
                        .result = "{url, listen}",
                        .errors = {{Code::kFailedPrecondition, "the web UI is off"},
                                   {Code::kInternal, "the token file cannot be written"}}},
                       [s](const NoParams&, CallContext&) -> Result<nlohmann::json> {
                         if (!s.web.rotate) {
                           return FailedPrecondition(
                               "the web UI is off; set web.enabled = true and restart the daemon");
                         }
                         return s.web.rotate();
                       }),
  };
}

}  // namespace warren::rpc

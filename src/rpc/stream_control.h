#pragma once

// The control channel (kChannelControl) of session streams: one small JSON
// object per frame, so it can grow without a new frame kind.
//
//   client → daemon: {"eof":true}            stdin ended
//                    {"signal":"INT"}        signal the command (name without SIG)
//                    {"resize":[cols,rows]}  the terminal changed size
//   daemon → client: {"ready":true}         the daemon now takes stdin for this
//                                            stream; a client sends none before
//                    {"ack":N}               N stdin bytes in total have reached the
//                                            guest; a client keeps at most
//                                            kStdinWindowBytes sent but unacked.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace warren::rpc {

inline constexpr size_t kStdinWindowBytes = 512 * 1024;

// nullptr-free parse: a malformed control frame yields an empty object.
inline nlohmann::json ParseControl(std::string_view bytes) {
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json::object();
}

inline std::string ControlAck(uint64_t total) { return nlohmann::json{{"ack", total}}.dump(); }
inline std::string ControlReady() { return nlohmann::json{{"ready", true}}.dump(); }

}  // namespace warren::rpc

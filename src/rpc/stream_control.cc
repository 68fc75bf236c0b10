#include "rpc/stream_control.h"

#include <cctype>
#include <exception>
#include <nlohmann/json.hpp>

namespace warren::rpc {

using nlohmann::json;

namespace {

Status Bad(std::string_view member, std::string_view want) {
  return InvalidArgument("control member \"" + std::string(member) + "\" must be " +
                         std::string(want));
}

Status ParseMember(const std::string& key, const json& v, StreamControl* out) {
  if (key == "eof" || key == "ready") {
    if (!v.is_boolean()) return Bad(key, "a boolean");
    (key == "eof" ? out->eof : out->ready) = v.get<bool>();
    return Status::Ok();
  }
  if (key == "signal") {
    if (!v.is_string()) return Bad(key, "a signal name");
    const auto& name = v.get_ref<const std::string&>();
    if (name.empty() || name.size() > kMaxSignalName) return Bad(key, "a signal name");
    for (unsigned char c : name) {
      if (!std::isalnum(c)) return Bad(key, "a signal name (letters and digits)");
    }
    out->signal = name;
    return Status::Ok();
  }
  if (key == "resize") {
    auto side = [](const json& n) {
      return n.is_number_integer() && n.get<int64_t>() >= 1 && n.get<int64_t>() <= kMaxTerminalSide;
    };
    if (!v.is_array() || v.size() != 2 || !side(v[0]) || !side(v[1])) {
      return Bad(key, "[cols, rows], each 1.." + std::to_string(kMaxTerminalSide));
    }
    out->resize = std::make_pair(v[0].get<int>(), v[1].get<int>());
    return Status::Ok();
  }
  if (key == "ack") {
    if (!v.is_number_unsigned()) return Bad(key, "a non-negative integer");
    out->ack = v.get<uint64_t>();
    return Status::Ok();
  }
  return InvalidArgument("unknown control member \"" + key.substr(0, 32) + "\"");
}

Result<StreamControl> ParseObject(const json& j) {
  if (!j.is_object()) return InvalidArgument("a control payload must be a JSON object");
  StreamControl out;
  for (const auto& [key, value] : j.items()) RETURN_IF_ERROR(ParseMember(key, value, &out));
  return out;
}

}  // namespace

Result<StreamControl> StreamControl::Parse(std::string_view bytes) {
  if (bytes.size() > kMaxControlBytes) {
    return InvalidArgument("a control payload is at most " + std::to_string(kMaxControlBytes) +
                           " bytes, got " + std::to_string(bytes.size()));
  }
  // Everything above is checked before use, so nothing below should throw; the
  // catch keeps a surprise in the JSON library from reaching a reader thread.
  try {
    json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return InvalidArgument("a control payload must be JSON");
    return ParseObject(j);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("bad control payload: ") + e.what());
  }
}

std::string StreamControl::Encode() const {
  json j = json::object();
  if (eof) j["eof"] = true;
  if (signal) j["signal"] = *signal;
  if (resize) j["resize"] = {resize->first, resize->second};
  if (ack) j["ack"] = *ack;
  if (ready) j["ready"] = true;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ControlAck(uint64_t total) {
  StreamControl c;
  c.ack = total;
  return c.Encode();
}

std::string ControlReady() {
  StreamControl c;
  c.ready = true;
  return c.Encode();
}

std::string ControlEof() {
  StreamControl c;
  c.eof = true;
  return c.Encode();
}

std::string ControlSignal(std::string name) {
  StreamControl c;
  c.signal = std::move(name);
  return c.Encode();
}

std::string ControlResize(int cols, int rows) {
  StreamControl c;
  c.resize = std::make_pair(cols, rows);
  return c.Encode();
}

}  // namespace warren::rpc

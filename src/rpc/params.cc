#include "rpc/params.h"

#include <string>

namespace warren::rpc {

using nlohmann::json;

namespace {

std::string_view Article(ParamType type) {
  return type == ParamType::kInt || type == ParamType::kStringList ||
                 type == ParamType::kStringMap || type == ParamType::kObject
             ? "an "
             : "a ";
}

std::string Quoted(std::string_view field) { return "field \"" + std::string(field) + "\""; }

Status WrongType(const ParamSpec& spec, const json& got) {
  return InvalidArgument(Quoted(spec.name) + " must be " + std::string(Article(spec.type)) +
                         std::string(ParamTypeName(spec.type)) + ", got " + got.type_name());
}

Status TooLong(const ParamSpec& spec) {
  return InvalidArgument(Quoted(spec.name) + " is longer than " + std::to_string(spec.max_bytes) +
                         " bytes");
}

Status CheckInt(const ParamSpec& spec, const json& v) {
  const std::string range =
      " (" + std::to_string(spec.min) + ".." + std::to_string(spec.max) + ")";
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(kNoMax)) {
    return InvalidArgument(Quoted(spec.name) + " is out of range" + range);
  }
  if (!v.is_number_integer()) return WrongType(spec, v);
  const int64_t n = v.get<int64_t>();
  if (n < spec.min || n > spec.max) {
    return InvalidArgument(Quoted(spec.name) + " is out of range" + range + ", got " +
                           std::to_string(n));
  }
  return Status::Ok();
}

Status CheckString(const ParamSpec& spec, const json& v) {
  if (!v.is_string()) return WrongType(spec, v);
  if (v.get_ref<const std::string&>().size() > spec.max_bytes) return TooLong(spec);
  return Status::Ok();
}

Status CheckOne(const ParamSpec& spec, const json& v) {
  switch (spec.type) {
    case ParamType::kString:
      return CheckString(spec, v);
    case ParamType::kInt:
      return CheckInt(spec, v);
    case ParamType::kBool:
      return v.is_boolean() ? Status::Ok() : WrongType(spec, v);
    case ParamType::kObject:
      if (!v.is_object()) return WrongType(spec, v);
      // The handler's typed parse checks the members; here only the size.
      if (v.dump().size() > spec.max_bytes) return TooLong(spec);
      return Status::Ok();
    case ParamType::kStringList:
    case ParamType::kStringMap: {
      const bool list = spec.type == ParamType::kStringList;
      if (list ? !v.is_array() : !v.is_object()) return WrongType(spec, v);
      if (v.size() > kMaxItems) {
        return InvalidArgument(Quoted(spec.name) + " has more than " + std::to_string(kMaxItems) +
                               " entries");
      }
      for (const auto& [key, item] : v.items()) {
        if (!item.is_string()) return WrongType(spec, v);
        if (item.get_ref<const std::string&>().size() > spec.max_bytes ||
            key.size() > spec.max_bytes) {
          return TooLong(spec);
        }
      }
      return Status::Ok();
    }
  }
  return Internal("unhandled parameter type");
}

std::string Accepted(std::span<const ParamSpec> specs) {
  if (specs.empty()) return "it takes no parameters";
  std::string out = "accepted:";
  for (const ParamSpec& s : specs) out += " " + std::string(s.name);
  return out;
}

}  // namespace

std::string_view ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kString:
      return "string";
    case ParamType::kInt:
      return "integer";
    case ParamType::kBool:
      return "boolean";
    case ParamType::kStringList:
      return "array of strings";
    case ParamType::kStringMap:
      return "object of strings";
    case ParamType::kObject:
      return "object";
  }
  return "?";
}

Status CheckParams(const json& params, std::span<const ParamSpec> specs) {
  if (!params.is_object()) {
    return InvalidArgument("params must be a JSON object, got " + std::string(params.type_name()));
  }
  for (const auto& [key, value] : params.items()) {
    const ParamSpec* spec = nullptr;
    for (const ParamSpec& s : specs) {
      if (s.name == key) spec = &s;
    }
    if (spec == nullptr) {
      // The key is client text: keep the message bounded.
      std::string shown = key.size() > 64 ? key.substr(0, 64) + "..." : key;
      return InvalidArgument("unknown field \"" + shown + "\"; " + Accepted(specs));
    }
    if (value.is_null()) continue;
    RETURN_IF_ERROR(CheckOne(*spec, value));
  }
  for (const ParamSpec& s : specs) {
    if (!s.required) continue;
    auto it = params.find(std::string(s.name));
    if (it == params.end() || it->is_null()) return InvalidArgument(Quoted(s.name) + " is required");
  }
  return Status::Ok();
}

json ParamsToJson(std::span<const ParamSpec> specs) {
  json out = json::array();
  for (const ParamSpec& s : specs) {
    std::string type(ParamTypeName(s.type));
    json row = {{"name", s.name}, {"type", type}, {"required", s.required}, {"doc", s.doc}};
    if (s.type == ParamType::kInt) {
      row["min"] = s.min;
      row["max"] = s.max;
    } else {
      row["max_bytes"] = s.max_bytes;
    }
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace warren::rpc

#pragma once

// Declared method parameters: what each request struct accepts, checked on
// the raw params object before the struct's FromJson runs. The declaration is
// also what `rpc.methods` reports, so clients and docs can be generated from
// the table instead of retyping field names.

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>

#include "base/status.h"

namespace warren::rpc {

enum class ParamType {
  kString,
  kInt,         // a JSON integer within [min, max]; floats are refused
  kBool,
  kStringList,  // an array of strings
  kStringMap,   // an object whose values are strings (e.g. env)
  kObject,      // any JSON object, max_bytes bounding its serialized size (e.g. caps)
};

std::string_view ParamTypeName(ParamType type);  // "string", "integer", "array of strings"...

inline constexpr int64_t kNoMin = std::numeric_limits<int64_t>::min();
inline constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();
// Bounds on what a client may send in one field, so a huge value is refused by
// the field that carries it rather than reaching a subsystem.
inline constexpr size_t kDefaultMaxBytes = 4096;
inline constexpr size_t kMaxItems = 4096;  // list entries / map members

struct ParamSpec {
  std::string_view name;
  ParamType type;
  bool required;
  std::string_view doc;
  int64_t min = kNoMin;  // kInt only
  int64_t max = kNoMax;  // kInt only
  // kString: the string; kStringList / kStringMap: each string in it.
  size_t max_bytes = kDefaultMaxBytes;
};

// Shorthands for the declarations in request structs.
constexpr ParamSpec Str(std::string_view name, bool required, std::string_view doc,
                        size_t max_bytes = kDefaultMaxBytes) {
  return {name, ParamType::kString, required, doc, kNoMin, kNoMax, max_bytes};
}
constexpr ParamSpec Int(std::string_view name, bool required, std::string_view doc, int64_t min,
                        int64_t max) {
  return {name, ParamType::kInt, required, doc, min, max};
}
constexpr ParamSpec Obj(std::string_view name, bool required, std::string_view doc,
                        size_t max_bytes) {
  return {name, ParamType::kObject, required, doc, kNoMin, kNoMax, max_bytes};
}
constexpr ParamSpec Bool(std::string_view name, std::string_view doc) {
  return {name, ParamType::kBool, false, doc};
}
// The declarations of a base request followed by a derived one's own.
template <size_t A, size_t B>
constexpr std::array<ParamSpec, A + B> Concat(const std::array<ParamSpec, A>& a,
                                              const std::array<ParamSpec, B>& b) {
  std::array<ParamSpec, A + B> out{};
  for (size_t i = 0; i < A; ++i) out[i] = a[i];
  for (size_t i = 0; i < B; ++i) out[A + i] = b[i];
  return out;
}

inline constexpr bool kRequired = true;
inline constexpr bool kOptional = false;

// InvalidArgument (→ -32602) naming the field when `params` is not an object,
// has a member no spec declares (the message lists the accepted ones), a member
// of the wrong type or out of range, or lacks a required member. A null member
// counts as absent. Members are checked before absences, so the error names
// the offending member. Never throws.
Status CheckParams(const nlohmann::json& params, std::span<const ParamSpec> specs);

// [{"name", "type", "required", "doc", ("min", "max")}] for `rpc.methods`.
nlohmann::json ParamsToJson(std::span<const ParamSpec> specs);

}  // namespace warren::rpc

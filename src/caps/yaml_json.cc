#include "caps/yaml_json.h"

#include <yaml.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>

namespace warren {
namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 100000;

nlohmann::json PlainScalar(const std::string& s) {
  static constexpr std::string_view kTrue[] = {"true", "True", "TRUE", "yes", "Yes",
                                               "YES",  "on",   "On",   "ON"};
  static constexpr std::string_view kFalse[] = {"false", "False", "FALSE", "no", "No",
                                                "NO",    "off",   "Off",   "OFF"};
  for (std::string_view t : kTrue)
    if (s == t) return true;
  for (std::string_view f : kFalse)
    if (s == f) return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  char* end = nullptr;
  errno = 0;
  // As PyYAML (cloud-init's parser) reads YAML 1.1: a leading 0 is octal
  // (file modes: 0644 is 420), 0x hexadecimal.
  int base = 10;
  if (s.size() > 1 && s[0] == '0') {
    base = (s[1] == 'x' || s[1] == 'X') ? 16 : 8;
  }
  long long i = std::strtoll(s.c_str(), &end, base);
  if (end != nullptr && *end == '\0' && errno == 0 && (std::isxdigit(static_cast<unsigned char>(s.back())) != 0)) return i;
  bool numeric = s.find_first_not_of("0123456789.eE+-") == std::string::npos &&
                 s.find_first_of("0123456789") != std::string::npos;
  if (numeric) {
    double d = std::strtod(s.c_str(), &end);
    if (end != nullptr && *end == '\0') return d;
  }
  return s;
}

Result<nlohmann::json> Node(yaml_document_t* doc, yaml_node_t* node, int depth, size_t* budget) {
  if (node == nullptr) return nlohmann::json(nullptr);
  if (depth > kMaxDepth) return InvalidArgument("cloud-config: YAML nested deeper than 64 levels");
  // Aliases expand (a merge cannot keep them); the budget bounds what a few
  // nested aliases could multiply into.
  if ((*budget)-- == 0) return InvalidArgument("cloud-config: YAML expands to too many nodes");
  switch (node->type) {
    case YAML_SCALAR_NODE: {
      std::string value(reinterpret_cast<const char*>(node->data.scalar.value),
                        node->data.scalar.length);
      if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) return PlainScalar(value);
      return nlohmann::json(value);
    }
    case YAML_SEQUENCE_NODE: {
      nlohmann::json out = nlohmann::json::array();
      for (yaml_node_item_t* i = node->data.sequence.items.start;
           i < node->data.sequence.items.top; ++i) {
        ASSIGN_OR_RETURN(nlohmann::json item, Node(doc, yaml_document_get_node(doc, *i), depth + 1, budget));
        out.push_back(std::move(item));
      }
      return out;
    }
    case YAML_MAPPING_NODE: {
      nlohmann::json out = nlohmann::json::object();
      for (yaml_node_pair_t* p = node->data.mapping.pairs.start;
           p < node->data.mapping.pairs.top; ++p) {
        yaml_node_t* key = yaml_document_get_node(doc, p->key);
        if (key == nullptr || key->type != YAML_SCALAR_NODE) {
          return InvalidArgument("YAML mapping keys must be plain strings");
        }
        std::string k(reinterpret_cast<const char*>(key->data.scalar.value),
                      key->data.scalar.length);
        ASSIGN_OR_RETURN(nlohmann::json v,
                         Node(doc, yaml_document_get_node(doc, p->value), depth + 1, budget));
        out[k] = std::move(v);
      }
      return out;
    }
    default:
      return nlohmann::json(nullptr);
  }
}

}  // namespace

Result<nlohmann::json> YamlToJson(std::string_view text) {
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) return Internal("libyaml: cannot initialize");
  std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> free_parser(&parser,
                                                                       yaml_parser_delete);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  yaml_document_t doc;
  if (yaml_parser_load(&parser, &doc) == 0) {
    return InvalidArgument("cloud-config: YAML error at line " +
                           std::to_string(parser.problem_mark.line + 1) + ": " +
                           (parser.problem != nullptr ? parser.problem : "syntax error"));
  }
  std::unique_ptr<yaml_document_t, void (*)(yaml_document_t*)> free_doc(&doc,
                                                                        yaml_document_delete);
  size_t budget = kMaxNodes;
  return Node(&doc, yaml_document_get_root_node(&doc), 0, &budget);
}

}  // namespace warren

#include "benches/cli/schema.h"

#include <stdexcept>

namespace memstrat::cli {

extern const char* const kResultsSchemaText;

namespace {

std::vector<KeySpec> read_keys(const nlohmann::json& schema, const char* section) {
  std::vector<KeySpec> keys;
  for (const auto& entry : schema.at(section))
    keys.push_back({entry.at("key"), entry.at("type"), entry.value("unit", ""), entry.value("aggregate", ""),
                    entry.value("meaning", "")});
  return keys;
}

const nlohmann::json& schema() {
  static const nlohmann::json parsed = nlohmann::json::parse(kResultsSchemaText);
  return parsed;
}

}  // namespace

const std::vector<KeySpec>& record_keys() {
  static const std::vector<KeySpec> keys = read_keys(schema(), "record");
  return keys;
}

const std::vector<KeySpec>& context_keys() {
  static const std::vector<KeySpec> keys = read_keys(schema(), "context");
  return keys;
}

const KeySpec* record_key(std::string_view key) {
  for (const KeySpec& spec : record_keys())
    if (spec.key == key) return &spec;
  return nullptr;
}

bool has_schema_type(const nlohmann::json& value, std::string_view type) {
  if (type == "number") return value.is_number();
  if (type == "integer") return value.is_number_integer();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  throw std::logic_error("schema/results.json: unknown type '" + std::string(type) + "'");
}

std::string schema_violation(const nlohmann::json& object, const std::vector<KeySpec>& keys) {
  for (const auto& [key, value] : object.items()) {
    const KeySpec* spec = nullptr;
    for (const KeySpec& k : keys)
      if (k.key == key) spec = &k;
    if (spec == nullptr) return "\"" + key + "\" is not declared in schema/results.json";
    if (!has_schema_type(value, spec->type))
      return "\"" + key + "\" is " + std::string(value.type_name()) + ", not " + spec->type;
  }
  return {};
}

}  // namespace memstrat::cli

// The results schema: every key a results file may hold, declared once in
// schema/results.json (name, type, unit, meaning, and how a suite aggregates
// it). The writer refuses a key that is not declared there, the reader checks
// the types it declares, and scripts/memstrat_charts reads the same file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace memstrat::cli {

struct KeySpec {
  std::string key;
  std::string type;       // number, integer, string, boolean, object, array
  std::string unit;       // bytes, ms, ... ; empty for counts and ratios
  std::string aggregate;  // median, first, suite, none (records only)
  std::string meaning;
};

const std::vector<KeySpec>& record_keys();
const std::vector<KeySpec>& context_keys();
// The declaration of a record's key; null when it has none.
const KeySpec* record_key(std::string_view key);

// Whether `value` is of the schema's `type`.
bool has_schema_type(const nlohmann::json& value, std::string_view type);

// Empty when every key of `object` is declared in `keys` with the type it has; else
// one line naming the first key that is not.
std::string schema_violation(const nlohmann::json& object, const std::vector<KeySpec>& keys);

}  // namespace memstrat::cli

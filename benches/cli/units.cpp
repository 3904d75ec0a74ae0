#include "benches/cli/units.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace memstrat::cli {

std::size_t parse_size(const std::string& text) {
  static const std::pair<const char*, double> units[] = {
      {"", 1.0},
      {"b", 1.0},
      {"k", 1024.0},
      {"ki", 1024.0},
      {"kib", 1024.0},
      {"kb", 1e3},
      {"m", 1048576.0},
      {"mi", 1048576.0},
      {"mib", 1048576.0},
      {"mb", 1e6},
      {"g", 1073741824.0},
      {"gi", 1073741824.0},
      {"gib", 1073741824.0},
      {"gb", 1e9},
      {"t", 1099511627776.0},
      {"ti", 1099511627776.0},
      {"tib", 1099511627776.0},
      {"tb", 1e12},
  };
  const auto fail = [&] {
    return std::invalid_argument("'" + text + "' is not a size: write a number and a unit, e.g. 512MiB or 2GiB (" +
                                 kSizeForms + ")");
  };
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) throw fail();
  double number = 0;
  try {
    std::size_t used = 0;
    number = std::stod(text.substr(0, i), &used);
    if (used != i) throw fail();
  } catch (const std::logic_error&) {
    throw fail();
  }
  std::size_t j = i;
  while (j < text.size() && text[j] == ' ') ++j;
  const std::string unit = text.substr(j);
  // "Gb" is how gigabits are written: a byte count is almost certainly meant, but which one is not.
  if (unit.size() >= 2 && std::isupper(static_cast<unsigned char>(unit[0])) && unit.back() == 'b')
    throw std::invalid_argument("'" + text + "' reads as bits: write " + text.substr(0, j) + unit.substr(0, 1) +
                                "B (powers of 1000) or " + text.substr(0, j) + unit.substr(0, 1) +
                                "iB (powers of 1024)");
  std::string lower = unit;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  for (const auto& [name, scale] : units)
    if (lower == name) {
      const double bytes = number * scale;
      if (!std::isfinite(bytes) || bytes < 1 || bytes > 1.8e19)
        throw std::invalid_argument("size '" + text + "' is out of range (1 byte to 16 EiB)");
      return std::size_t(std::round(bytes));
    }
  throw fail();
}

CLI::Validator byte_size() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          parse_size(text);
        } catch (const std::invalid_argument& e) {
          return e.what();
        }
        return {};
      },
      "SIZE");
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> words;
  for (std::size_t from = 0; from <= text.size();) {
    const std::size_t comma = std::min(text.find(',', from), text.size());
    std::string word = text.substr(from, comma - from);
    from = comma + 1;
    if (!word.empty() && std::find(words.begin(), words.end(), word) == words.end()) words.push_back(std::move(word));
  }
  return words;
}

}  // namespace memstrat::cli

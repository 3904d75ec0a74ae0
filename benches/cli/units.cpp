#include "benches/cli/units.h"

#include <cctype>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace memstrat::cli {

std::size_t parse_size(const std::string& text) {
  static const std::pair<const char*, double> units[] = {
      {"", 1.0},        {"B", 1.0},          {"K", 1024.0},         {"k", 1024.0},          {"KiB", 1024.0},
      {"M", 1048576.0}, {"MiB", 1048576.0},  {"G", 1073741824.0},   {"GiB", 1073741824.0},  {"T", 1099511627776.0},
      {"TiB", 1099511627776.0}, {"KB", 1e3}, {"kB", 1e3},           {"MB", 1e6},            {"GB", 1e9},
      {"TB", 1e12},
  };
  const auto fail = [&] {
    return std::invalid_argument("'" + text +
                                 "' is not a size: write a number with a unit, e.g. 512MiB or 2GiB "
                                 "(binary: KiB MiB GiB TiB, or K M G T; decimal: KB MB GB TB)");
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
  for (const auto& [name, scale] : units)
    if (unit == name) {
      const double bytes = number * scale;
      if (!std::isfinite(bytes) || bytes < 1 || bytes > 1.8e19)
        throw std::invalid_argument("size '" + text + "' is out of range (1 byte to 16 EiB)");
      return std::size_t(std::llround(bytes));
    }
  throw fail();
}

}  // namespace memstrat::cli

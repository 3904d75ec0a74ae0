// Byte sizes on the command line and in config files: "512MiB", "2GiB", "2GB".
#pragma once

#include <cstddef>
#include <string>

namespace memstrat::cli {

// Accepts a plain byte count, binary units (KiB, MiB, GiB, TiB; also K, M, G, T
// and k), and decimal ones (KB, MB, GB, TB = powers of 1000). Throws
// std::invalid_argument saying which forms it takes.
std::size_t parse_size(const std::string& text);

}  // namespace memstrat::cli

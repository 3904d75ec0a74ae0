// Byte sizes on the command line and in config files: "512MiB", "2GiB", "2GB".
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <string>
#include <vector>

namespace memstrat::cli {

// The forms parse_size takes, for help texts.
inline constexpr const char* kSizeForms =
    "K M G T and KiB MiB GiB TiB are powers of 1024, KB MB GB TB powers of 1000, in any case; no unit: bytes";

// A byte count with an optional unit (see kSizeForms), and a fraction allowed:
// "1.5GiB". Throws std::invalid_argument saying which forms it takes; "2Gb" is
// refused as bits.
std::size_t parse_size(const std::string& text);

// parse_size as an option's check, so that a bad size is named by its option.
CLI::Validator byte_size();

// The words of a comma-separated list ("malloc,jemalloc"), empty ones left out and
// each once, in their order.
std::vector<std::string> split_list(const std::string& text);

}  // namespace memstrat::cli

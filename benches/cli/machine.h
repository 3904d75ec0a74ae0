// The machine a result was measured on, in the shape of Google Benchmark's
// "context" plus what memory results depend on: CPU flags, caches, memory,
// kernel, transparent huge pages, C library, compiler, git revision.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace memstrat::cli {

nlohmann::json machine_context();
std::string host_name();

// The number a /proc or /sys file starts with; none when the file is absent or
// holds no number (a cgroup's "max" reads as none: no limit).
std::optional<std::size_t> number_in(const std::string& path);

}  // namespace memstrat::cli

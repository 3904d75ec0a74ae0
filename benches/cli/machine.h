// The machine a result was measured on, in the shape of Google Benchmark's
// "context" plus what memory results depend on: CPU flags, caches, memory,
// kernel, transparent huge pages, C library, compiler, git revision.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace memstrat::cli {

nlohmann::json machine_context();
std::string host_name();

}  // namespace memstrat::cli

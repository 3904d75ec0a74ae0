// The machine a result was measured on, in the shape of Google Benchmark's
// "context" plus what memory results depend on: CPU flags, caches, memory,
// kernel, transparent huge pages, C library, compiler, and the build stamp.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace memstrat::cli {

// The context of every results file: the machine as above, the date, and the
// build stamp (git_revision; git_dirty true, false, or null when unknown).
nlohmann::json machine_context();
std::string host_name();
// The local date, 2026-12-06: results files are named by it.
std::string today();

// The number a /proc or /sys file starts with; none when the file is absent or
// holds no number (a cgroup's "max" reads as none: no limit).
std::optional<std::size_t> number_in(const std::string& path);

// The build stamp, as of the build of this binary (not of its cmake configure):
// `git rev-parse --short HEAD` of the source checkout, and whether its tracked
// files differed from HEAD. Outside a git checkout (a tarball): "unknown", and
// dirty unknown (none). Defined in the generated build_stamp.cpp (cmake/stamp.cmake).
const char* build_revision();
std::optional<bool> build_dirty();

}  // namespace memstrat::cli

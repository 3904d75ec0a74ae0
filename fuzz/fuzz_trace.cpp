// libFuzzer target: the trace-file reader, and a replay of what it accepts.
// The checks live in fuzz/entry_points.h, shared with tests/test_fuzz_regressions.cpp.
#include <cstddef>
#include <cstdint>

#include "fuzz/entry_points.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return memstrat::fuzz::run_target("fuzz_trace", memstrat::fuzz::trace_input, data, size);
}

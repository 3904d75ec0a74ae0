// libFuzzer target: the results-file reader, as `memstrat suite --resume` uses it
// (the suite also reads each run's record with it).
// The checks live in fuzz/entry_points.h, shared with tests/test_fuzz_regressions.cpp.
#include <cstddef>
#include <cstdint>

#include "fuzz/entry_points.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return memstrat::fuzz::run_target("fuzz_results", memstrat::fuzz::results_input, data, size);
}

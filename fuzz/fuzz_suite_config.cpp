// libFuzzer target: the suite configuration reader (TOML and JSON), as `memstrat suite --config` uses it.
// The checks live in fuzz/entry_points.h, shared with tests/test_fuzz_regressions.cpp.
#include <cstddef>
#include <cstdint>

#include "fuzz/entry_points.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return memstrat::fuzz::run_target("fuzz_suite_config", memstrat::fuzz::suite_config_input, data, size);
}

// libFuzzer target: the suite configuration reader (TOML and JSON), as `memstrat suite --config` uses it.
// The checks live in fuzz/entry_points.h, shared with tests/test_fuzz_regressions.cpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <typeinfo>

#include "fuzz/entry_points.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    memstrat::fuzz::suite_config_input(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const std::exception& e) {
    // Escaped the reader's contract: say what, then crash so that libFuzzer keeps the input.
    std::fprintf(stderr, "fuzz_suite_config: %s escaped: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}

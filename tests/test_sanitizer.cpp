// Our own allocators under AddressSanitizer: a deliberate overflow or
// use-after-free inside an arena, pool or planned buffer is reported, not hidden
// by the allocator's big blocks. Each error is made in a child process (the
// probe, tests/sanitizer/asan_probe.cpp) that ASan must stop with a report.
// Registered only in the sanitizer build (MEMSTRAT_SANITIZE).
#include "tests/support.h"

#if defined(MEMSTRAT_ASAN_PROBE)

#include <catch2/catch.hpp>
#include <string>

using memstrat::test::run_program;

namespace {

// The address the probe printed before touching it.
std::string touched_address(const std::string& out) {
  const std::string prefix = "touching ";
  const auto at = out.find(prefix);
  if (at == std::string::npos) return {};
  const auto end = out.find('\n', at);
  return out.substr(at + prefix.size(), end - at - prefix.size());
}

}  // namespace

TEST_CASE("sanitizer: an overflow or a use-after-free inside arena, pool and planned buffers is reported",
          "[sanitizer]") {
  for (const char* strategy : {"arena", "arena:separate", "pool", "planned"}) {
    // The same accesses, kept legal: the probe survives, so a death below is the error's.
    const auto legal = run_program(MEMSTRAT_ASAN_PROBE, std::string(strategy) + " in-bounds");
    INFO(strategy << " in-bounds: " << legal.out << legal.err);
    REQUIRE(legal.exit_code == 0);
    REQUIRE(legal.out.find("survived") != std::string::npos);

    for (const char* action : {"overflow", "use-after-free"}) {
      const std::string args = std::string(strategy) + " " + action;
      // With the strategies' own poisoning ignored ASan sees nothing wrong: what catches the
      // error below is the strategy telling ASan about its memory, not ASan's heap redzones.
      const auto unseen = run_program(MEMSTRAT_ASAN_PROBE, args, "ASAN_OPTIONS=allow_user_poisoning=0");
      INFO(args << " without poisoning: exit " << unseen.exit_code << "\n" << unseen.out << unseen.err);
      REQUIRE(unseen.exit_code == 0);

      const auto result = run_program(MEMSTRAT_ASAN_PROBE, args);
      INFO(args << ": exit " << result.exit_code << "\n" << result.out << result.err);
      REQUIRE(result.exit_code != 0);
      REQUIRE(result.out.find("survived") == std::string::npos);
      // Memory an allocator poisoned by hand is reported as use-after-poison, at the very address touched.
      REQUIRE(result.err.find("ERROR: AddressSanitizer: use-after-poison") != std::string::npos);
      const std::string address = touched_address(result.out);
      REQUIRE(!address.empty());
      REQUIRE(result.err.find(address) != std::string::npos);
      REQUIRE(result.err.find(std::string(action) == "overflow" ? "WRITE of size 1" : "READ of size 1") !=
              std::string::npos);
    }
  }
}

#endif

// memstrat-micro says in its report's context which OpenBLAS ran: the core, the
// build configuration, the thread count, the OPENBLAS_* variables and whether
// one of them forced the core. The test runs the memstrat-micro built next to
// the CLI on one small OpenBLAS GEMM, in the test's own environment, and holds
// the context to that environment. It never sets OPENBLAS_CORETYPE or
// OPENBLAS_L2_SIZE (they would change the core): whether the core is forced is
// checked against the environment the tests run in.
//
// memstrat-tests does not depend on memstrat-micro in the build (`make build`
// and `make test` build both; `make test-asan` builds the tests alone): where
// the program is absent, the test says so and checks nothing.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support.h"

namespace {

std::string micro_program() { return (std::filesystem::path(MEMSTRAT_CLI).parent_path() / "memstrat-micro").string(); }

// What the context must say of this environment, plus `extra` (NAME=value) if
// given: its OPENBLAS_* variables, sorted; "none" when there is none.
std::string openblas_variables(const std::string& extra = "") {
  std::vector<std::string> set;
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "OPENBLAS_", 9) == 0) set.emplace_back(*e);
  if (!extra.empty()) set.push_back(extra);
  std::sort(set.begin(), set.end());
  std::string joined;
  for (const auto& s : set) joined += (joined.empty() ? "" : " ") + s;
  return set.empty() ? "none" : joined;
}

// The context of a run of one small OpenBLAS GEMM, with `env` (NAME=value) set for it alone.
nlohmann::json micro_context(const std::string& program, const std::string& env = "") {
  const auto r = memstrat::test::run_program(
      program, "--benchmark_filter=^gemm/openblas/vggmini/NN/32x1024x27/ --benchmark_format=json", env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out).at("context");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

TEST_CASE("memstrat-micro records which OpenBLAS ran and what chose it", "[micro]") {
  const std::string program = micro_program();
  INFO(program << " is built with the tests (CMakeLists.txt: memstrat-tests depends on it)");
  REQUIRE(std::filesystem::exists(program));
  const nlohmann::json context = micro_context(program);
  INFO(context.dump(2));

  const std::string core = context.at("openblas_corename").get<std::string>();
  REQUIRE(!core.empty());
  // The config string names the core that runs (a DYNAMIC_ARCH build's: the one it picked).
  const std::string config = context.at("openblas_config").get<std::string>();
  REQUIRE(config.rfind("OpenBLAS ", 0) == 0);
  REQUIRE(lower(config).find(lower(core)) != std::string::npos);
  REQUIRE(std::stoi(context.at("openblas_num_threads").get<std::string>()) >= 1);

  REQUIRE(context.at("openblas_env").get<std::string>() == openblas_variables());
  REQUIRE(context.at("openblas_core_forced").get<std::string>() ==
          (std::getenv("OPENBLAS_CORETYPE") ? "true" : "false"));

  // A variable OpenBLAS does not read, set for memstrat-micro alone, is listed with the others.
  const std::string probe = "OPENBLAS_MEMSTRAT_TEST_PROBE=1";
  const nlohmann::json probed = micro_context(program, probe);
  REQUIRE(probed.at("openblas_env").get<std::string>() == openblas_variables(probe));
  REQUIRE(probed.at("openblas_corename") == context.at("openblas_corename"));
}

// Peak RSS predicted per allocator (`memstrat estimate --alloc`): the replay in a
// child writes the pages a run writes, answers per allocator, and says clearly when
// it cannot. How close the figure comes to a measured run is a benchmark's matter
// (the results in README), not this test's.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support.h"

using namespace memstrat;
using nlohmann::json;

namespace {
const std::string kSmall = "estimate --model vgg-mini --image 16 --batch 16 --threads 2";
}

TEST_CASE("estimate --alloc predicts each allocator's peak RSS from pages the replay wrote", "[predict][cli]") {
  const auto out = test::run_cli(kSmall + " --alloc malloc,pool,mmap --json");
  INFO(out.err);
  REQUIRE(out.exit_code == 0);
  const json j = json::parse(out.out);
  const auto live_growth =
      double(j["predicted_peak_live_bytes"].get<std::size_t>() - j["setup_bytes"].get<std::size_t>());
  REQUIRE(j["peak_rss"].size() == 3);
  for (const auto& p : j["peak_rss"]) {
    INFO(p.dump());
    REQUIRE(p.contains("predicted_peak_rss_bytes"));
    // The step's buffers are resident: RSS grew by at least what the step's live bytes did.
    const double growth = p["predicted_peak_rss_bytes"].get<double>() - p["baseline_rss_bytes"].get<double>();
    REQUIRE(growth >= 0.9 * live_growth);
  }
  REQUIRE(j["peak_rss"][1]["alloc"] == "pool");

  const auto table = test::run_cli(kSmall + " --alloc pool --run-steps 3");
  REQUIRE(table.exit_code == 0);
  REQUIRE_THAT(table.out, Catch::Contains("Predicted peak RSS (3 steps replayed") && Catch::Contains("\npool "));
}

TEST_CASE("estimate --alloc refuses what it cannot predict, with the reason", "[predict][cli][bad-input]") {
  auto out = test::run_cli(kSmall + " --alloc malloc,nosuch");
  REQUIRE(out.exit_code != 0);
  REQUIRE_THAT(out.err, Catch::Contains("nosuch"));
  REQUIRE(out.out.empty());  // refused before anything is printed or any child starts
  out = test::run_cli(kSmall + " --alloc malloc,,pool");
  REQUIRE(out.exit_code != 0);
  REQUIRE_THAT(out.err, Catch::Contains("empty allocator name"));

  // A child killed in its replay: the allocator's row says so, and the exit is non-zero.
  out = test::run_cli(kSmall + " --alloc pool --json", "MEMSTRAT_FAULT=kill@2");
  REQUIRE(out.exit_code != 0);
  const json j = json::parse(out.out);
  REQUIRE_FALSE(j["peak_rss"][0].contains("predicted_peak_rss_bytes"));
  REQUIRE_THAT(j["peak_rss"][0]["error"].get<std::string>(), Catch::Contains("the prediction child ended crash"));
}

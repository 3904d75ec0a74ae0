// The fuzzers' committed corpus (fuzz/corpus), run through the same entry points
// (fuzz/entry_points.h) in the normal build, so that ctest covers it without clang.
//
// Seeds are named for what the reader must do with them: valid-* are accepted,
// broken-* and regress-* refused with the reader's own exception. regress-* are
// inputs the fuzzers once crashed a reader with; each is listed below with the
// error it must now get.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/entry_points.h"

namespace fs = std::filesystem;
using namespace memstrat;

namespace {

fs::path corpus_dir(const std::string& target) {
  return fs::path(__FILE__).parent_path().parent_path() / "fuzz" / "corpus" / target;
}

struct Seed {
  std::string name, text;
};

std::vector<Seed> seeds(const std::string& target) {
  const fs::path dir = corpus_dir(target);
  REQUIRE(fs::is_directory(dir));
  std::vector<Seed> all;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    all.push_back({entry.path().filename().string(), text.str()});
  }
  std::sort(all.begin(), all.end(), [](const Seed& a, const Seed& b) { return a.name < b.name; });
  REQUIRE(all.size() >= 3);
  return all;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Each regress-* seed and a piece of the error its reader must give it.
const std::map<std::string, std::string> kRegressions = {
    {"suite_config/regress-number-overflow.json", "not valid JSON"},
    {"suite_config/regress-too-many-runs.json", "more than 100000 runs"},
    {"results/regress-run-without-run-name.json", "without a \"run_name\""},
    {"trace/regress-step-frees-setup-buffer.json", "allocated in setup, but freed in the step"},
};

// Runs every seed of `target` through its fuzz entry point, then through the
// reader alone: `read` returns normally when the reader accepts, and returns
// the error message when it refuses with its own exception.
void check_corpus(const std::string& target, const std::function<void(const std::string&)>& entry,
                  const std::function<std::string(const Seed&)>& read) {
  for (const Seed& seed : seeds(target)) {
    INFO(target << "/" << seed.name);
    REQUIRE_NOTHROW(entry(seed.text));
    const std::string error = read(seed);
    if (starts_with(seed.name, "valid-")) {
      CHECK(error == "");
    } else if (starts_with(seed.name, "broken-")) {
      CHECK_FALSE(error.empty());
    } else if (starts_with(seed.name, "regress-")) {
      const auto expected = kRegressions.find(target + "/" + seed.name);
      REQUIRE(expected != kRegressions.end());  // a new regression seed wants its expected error here
      CHECK_THAT(error, Catch::Matchers::Contains(expected->second));
    }
  }
}

}  // namespace

TEST_CASE("fuzz corpus: suite configurations", "[fuzz]") {
  check_corpus("suite_config", fuzz::suite_config_input, [](const Seed& seed) -> std::string {
    const bool toml = seed.name.size() > 5 && seed.name.substr(seed.name.size() - 5) == ".toml";
    try {
      const cli::SuiteConfig config = cli::parse_config_text(seed.text, seed.name, toml);
      CHECK_FALSE(config.cells.empty());
      return {};
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Matchers::StartsWith("config " + seed.name + ": "));
      return e.what();
    }
  });
}

TEST_CASE("fuzz corpus: results files", "[fuzz]") {
  check_corpus("results", fuzz::results_input, [](const Seed& seed) -> std::string {
    try {
      const nlohmann::json document = cli::parse_results_text(seed.text, seed.name);
      CHECK(document["benchmarks"].is_array());
      return {};
    } catch (const std::runtime_error& e) {
      CHECK_THAT(e.what(), Catch::Matchers::Contains("'" + seed.name + "'"));
      return e.what();
    }
  });
}

TEST_CASE("fuzz corpus: allocation traces", "[fuzz]") {
  check_corpus("trace", fuzz::trace_input, [](const Seed& seed) -> std::string {
    try {
      const cli::Trace trace = cli::trace_from_text(seed.text, seed.name);
      CHECK(trace.step_allocations > 0);
      return {};
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Matchers::StartsWith("trace " + seed.name + ": "));
      return e.what();
    }
  });
}

TEST_CASE("fuzz entry points catch what they are for", "[fuzz]") {
  // Without these, a corpus that passes could mean entry points that check nothing.
  SECTION("a trace whose step frees a setup buffer breaks the replay's promise") {
    cli::Trace trace;
    trace.buffers = 1;
    trace.setup.push_back({cli::TraceEvent::Op::allocate, 0, {64, 64, BufferKind::parameter, 0}, Phase::setup});
    trace.step.push_back({cli::TraceEvent::Op::deallocate, 0, {64, 64, BufferKind::parameter, 0}, Phase::setup});
    const std::string text = cli::trace_to_json(trace).dump();
    CHECK_THROWS_AS(cli::trace_from_text(text, "t"), std::invalid_argument);
  }
  SECTION("a results record that resume cannot read is refused by the reader") {
    const std::string text =
        R"({"benchmarks": [{"name": "a", "run_name": "a", "run_type": "iteration", "status": "ok", "config": {}}]})";
    CHECK_THROWS_AS(cli::parse_results_text(text, "r.json"), std::runtime_error);
  }
  SECTION("the checking allocator sees a free of something never allocated") {
    fuzz::CheckingAllocator allocator;
    int not_allocated = 0;
    allocator.deallocate(&not_allocated, {4, 4, BufferKind::temporary, -1});
    CHECK(allocator.bad_free());
  }
}

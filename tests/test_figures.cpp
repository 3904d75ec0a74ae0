// The figures a record holds are the ones DESIGN.md defines: sampled in the
// steady state, a diverged run said to be one, every option and key declared once.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "benches/cli/options.h"
#include "benches/cli/record.h"
#include "benches/cli/schema.h"
#include "tests/support.h"

using namespace memstrat;

namespace {

cli::RunOptions small_run(const std::string& alloc) {
  cli::RunOptions o;
  o.model = "vgg-mini";
  o.image = 16;
  o.batch = 8;
  o.steps = 2;
  o.samples = 64;
  o.threads = 1;
  o.alloc = alloc;
  return o;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

}  // namespace

TEST_CASE("allocator figures come from the measured steps, not from warm-up", "[figures]") {
  // planned records step 0 through plain allocations and serves later steps from its
  // slab: only after warm-up does its view hold the slab and what the slab wastes.
  const nlohmann::json planned = cli::measure_run(small_run("planned"), 2, false);
  INFO(planned.dump(1));
  const double reserved = planned.at("allocator_reserved_bytes"), allocated = planned.at("allocator_allocated_bytes");
  const double slab = planned.at("plan_slab_bytes"), bound = planned.at("plan_lower_bound_bytes");
  REQUIRE(reserved >= slab);
  REQUIRE(slab > bound);
  // The slab's waste at the peak is at least what it holds beyond the most bytes live at once.
  REQUIRE(reserved - allocated >= slab - bound);
  REQUIRE(planned.at("fragmentation").get<double>() > 0.0);

  // arena: its persistent region and the step region it keeps after the first step.
  const nlohmann::json arena = cli::measure_run(small_run("arena"), 2, false);
  INFO(arena.dump(1));
  REQUIRE(arena.at("allocator_reserved_bytes").get<double>() >=
          arena.at("arena_persistent_bytes").get<double>() + arena.at("arena_step_region_bytes").get<double>());
}

TEST_CASE("a run whose loss explodes is recorded as diverged, with its step, in run and in a suite", "[figures]") {
  test::TempDir dir;
  const std::string common = "--model mlp:16 --image 4 --batch 2 --samples 8 --threads 1 --steps 5 ";
  const auto run = test::run_cli("run " + common + "--lr 100 --json " + dir.path("run.json"));
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == cli::kDivergedExit);
  REQUIRE_THAT(run.out, Catch::Contains("diverged at step 2"));
  const nlohmann::json record = read_json(dir.path("run.json"))["benchmarks"][0];
  REQUIRE(record["status"] == "diverged");
  REQUIRE(record["diverged_step"] == 2);
  REQUIRE(!record.contains("step_ms"));  // no times of NaN arithmetic
  {
    std::ifstream in(dir.path("run.json"));
    std::stringstream text;
    text << in.rdbuf();
    REQUIRE(text.str().find("null") == std::string::npos);
  }
  // The same in a suite: recorded, and the suite goes on to the next cell.
  const auto train = test::run_cli("train " + common + "--lr 100");
  REQUIRE(train.exit_code == cli::kDivergedExit);
  REQUIRE_THAT(train.err, Catch::Contains("diverged at step 2"));
  {
    std::ofstream(dir.path("suite.json")) << R"({"repeats": 1, "steps": 4, "warmup": 0, "matrix": [
      {"models": ["mlp:16"], "image": 4, "batches": [2], "samples": 8, "allocators": ["malloc"], "lr": 100},
      {"models": ["mlp:16"], "image": 4, "batches": [2], "samples": 8, "allocators": ["malloc"]}]})";
  }
  const auto suite =
      test::run_cli("suite --max-reruns 0 --config " + dir.path("suite.json") + " --out " + dir.path("out.json"));
  INFO(suite.out << suite.err);
  REQUIRE(suite.exit_code == 0);
  std::map<std::string, std::string> status;
  const nlohmann::json results = read_json(dir.path("out.json"));
  for (const auto& r : results["benchmarks"])
    if (r["run_type"] == "iteration")
      status[r["name"].get<std::string>().find("/lr100") != std::string::npos ? "lr100" : "default"] = r["status"];
  REQUIRE(status["lr100"] == "diverged");
  REQUIRE(status["default"] == "ok");
}

TEST_CASE("every run option reaches the record and a child's command line", "[figures]") {
  // Each option set away from its default, the way a suite matrix sets it.
  cli::RunOptions o;
  const std::map<std::string, nlohmann::json> values = {{"model", "deepconv:3"},
                                                        {"image", 12},
                                                        {"channels", 8},
                                                        {"classes", 5},
                                                        {"batch", 6},
                                                        {"threads", 1},
                                                        {"optimizer", "adam"},
                                                        {"tech", "bf16"},
                                                        {"steps", 3},
                                                        {"seed", 7},
                                                        {"lr", 0.0025},
                                                        {"data", "/tmp/x.bin"},
                                                        {"samples", 24},
                                                        {"data_mode", "mmap"},
                                                        {"alloc", "pool"},
                                                        {"ranks", 2},
                                                        {"transport", "tcp"}};
  for (const auto& option : cli::run_options()) {
    INFO(option.key);
    REQUIRE(values.count(std::string(option.key)));  // a new option needs a value here
    REQUIRE(option.set(o, values.at(std::string(option.key))).empty());
    REQUIRE(option.given(o));
  }
  const nlohmann::json config = cli::config_json(o);
  for (const auto& [key, value] : values) REQUIRE(config.at(key) == value);
  // A child given these words has the same options.
  CLI::App app;
  cli::RunOptions child;
  cli::add_run_options(app, child);
  std::vector<std::string> words = cli::option_arguments(o);
  std::reverse(words.begin(), words.end());  // CLI11 parses a reversed vector
  app.parse(words);
  REQUIRE(cli::config_json(child) == config);
  // Every option that differs from its default shows in the record name.
  REQUIRE(cli::record_name(o) == "deepconv:3/b6/pool/bf16/i12/c8/k5/t1/r2/adam/seed7/lr0.0025/n24/mmap/tcp");
}

TEST_CASE("results files hold only the keys schema/results.json declares, of the types it declares", "[figures]") {
  nlohmann::json document = {{"context", {{"host_name", "h"}}},
                             {"benchmarks", {{{"name", "a"}, {"status", "ok"}, {"peak_rss_bytes", 1.0}}}}};
  REQUIRE_NOTHROW(cli::check_against_schema(document));
  document["benchmarks"][0]["peak_rss"] = 1.0;
  REQUIRE_THROWS_WITH(cli::check_against_schema(document), Catch::Contains("\"peak_rss\" is not declared"));
  document["benchmarks"][0].erase("peak_rss");
  document["benchmarks"][0]["peak_rss_bytes"] = "big";
  REQUIRE_THROWS_WITH(cli::check_against_schema(document), Catch::Contains("not number"));
  document["benchmarks"][0]["peak_rss_bytes"] = nullptr;  // null is no number either
  REQUIRE_THROWS(cli::check_against_schema(document));
  document["benchmarks"][0]["peak_rss_bytes"] = 1.0;
  document["context"]["nosuch"] = 1;
  REQUIRE_THROWS_WITH(cli::check_against_schema(document), Catch::Contains("context"));
  // Every declaration names a known type and, for records, a known way to aggregate.
  for (const auto& spec : cli::record_keys()) {
    INFO(spec.key);
    REQUIRE_NOTHROW(cli::has_schema_type(nlohmann::json(), spec.type));
    REQUIRE((spec.aggregate == "median" || spec.aggregate == "first" || spec.aggregate == "suite" ||
             spec.aggregate == "none"));
    REQUIRE(!spec.meaning.empty());
  }
}

TEST_CASE("the step timeline holds the last measured step's every event, on the step's clock", "[figures]") {
  for (const std::string alloc : {"malloc", "pool"}) {
    cli::RunOptions o = small_run(alloc);
    o.steps = 3;
    const nlohmann::json record = cli::measure_run(o, 1, true);
    const nlohmann::json& t = record.at("step_timeline");
    INFO(alloc << ": " << t.dump());
    // The last of warm-up + measured steps (the trainer counts from its own first step).
    CHECK(t.at("truncated") == false);
    const std::size_t n = t.at("events");
    REQUIRE(n > 0);
    REQUIRE(t.at("t_us").size() == n);
    REQUIRE(t.at("kind").size() == n);
    REQUIRE(t.at("bytes").size() == n);
    REQUIRE(t.at("rss_bytes").size() == n);
    // Every allocate and every free of the step: as many events as the step's calls.
    const double calls = record.at("alloc_calls_per_step");
    CHECK(double(n) == Approx(2.0 * calls));
    // Summed by kind from the step's start, the live bytes reach the measured peak
    // (each step asks for the same buffers) and come back to where the step began.
    std::vector<double> live = t.at("start_live_by_kind").get<std::vector<double>>();
    double start_total = 0, most = 0;
    for (double v : live) start_total += v;
    double total = start_total;
    std::uint64_t last_t = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const int k = t["kind"][i];
      const double b = t["bytes"][i];
      live.at(std::size_t(k)) += b;
      REQUIRE(live[std::size_t(k)] >= 0);
      total += b;
      most = std::max(most, total);
      const std::uint64_t at = t["t_us"][i];
      REQUIRE(at >= last_t);
      last_t = at;
    }
    CHECK(most == record.at("peak_live_bytes").get<double>());
    CHECK(total == start_total);
    CHECK(last_t <= t.at("step_us").get<std::uint64_t>());
    // The phases in the order the trainer runs them, inside the step.
    std::vector<std::string> phases;
    for (const auto& p : t.at("phases")) phases.push_back(p.at("phase"));
    CHECK(phases == std::vector<std::string>{"forward", "backward", "optimizer"});
    // pool knows what it holds; glibc's mallinfo2 too.
    CHECK(t.contains("reserved_bytes"));
  }
  // Without a timeline, none.
  CHECK_FALSE(cli::measure_run(small_run("malloc"), 1, false).contains("step_timeline"));
}

// `run --ranks N`: data parallelism over MPI (Open MPI's mpirun and memstrat-rank),
// plain (dp) and with ZeRO's sharding. Two ranks must learn what one process learns
// at the same global batch, each rank must hold what the estimator predicts for it,
// and a rank that fails must end the run with its name, leaving no process behind.
#include <dirent.h>

#include <fmt/core.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/support.h"

using namespace memstrat::test;

namespace {

// Open MPI leaks by design at exit; the sanitizer build keeps its other checks.
const std::string kEnv = kSanitized ? "ASAN_OPTIONS=detect_leaks=0:halt_on_error=1" : "";

nlohmann::json record_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str()).at("benchmarks").at(0);
}

nlohmann::json run_ranks(const TempDir& dir, int ranks, const std::string& tech, const std::string& extra = "",
                         const std::string& env = "") {
  const std::string json = dir.path(fmt::format("r{}-{}.json", ranks, tech));
  const CliResult r = run_cli(fmt::format("run --model vgg-mini --image 16 --batch 16 --samples 64 --steps 3 "
                                          "--warmup 1 --seed 7 --no-timeline --ranks {} --tech {} --json {} {}",
                                          ranks, tech, json, extra),
                              fmt::format("{} {}", kEnv, env));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return record_of(json);
}

// Processes whose command line holds `marker`.
int processes_with(const std::string& marker) {
  int found = 0;
  DIR* proc = ::opendir("/proc");
  while (dirent* e = proc ? ::readdir(proc) : nullptr) {
    std::ifstream in(std::string("/proc/") + e->d_name + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    found += cmdline.find(marker) != std::string::npos ? 1 : 0;
  }
  if (proc) ::closedir(proc);
  return found;
}

}  // namespace

TEST_CASE("two ranks learn what one process learns, each holding what the estimator predicts", "[ranks]") {
  const TempDir dir;
  double dp_parameters = 0, dp_state = 0, p1 = 0, g1 = 0, k1 = 0;
  for (const std::string tech : {"dp", "zero:1", "zero:2", "zero:3"}) {
    const nlohmann::json one = run_ranks(dir, 1, tech), two = run_ranks(dir, 2, tech);
    INFO(tech << ": " << two.dump());
    REQUIRE(two.at("ranks") == 2);
    REQUIRE(two.at("rank_batch") == 8);
    // Summation order differs (each rank sums its 8 samples, then the ranks are summed),
    // so equal to rounding, not bitwise.
    CHECK(two.at("weights_l2").get<double>() == Approx(one.at("weights_l2").get<double>()).epsilon(1e-6));
    CHECK(two.at("weights_sum").get<double>() ==
          Approx(one.at("weights_sum").get<double>()).epsilon(1e-5).margin(1e-5));
    const auto l1 = one.at("losses").get<std::vector<double>>(), l2 = two.at("losses").get<std::vector<double>>();
    REQUIRE(l1.size() == l2.size());
    for (std::size_t i = 0; i < l1.size(); ++i) CHECK(l2[i] == Approx(l1[i]).epsilon(1e-5));
    // Every rank's peak of live bytes is the dry run's of one rank, to the byte.
    REQUIRE(two.at("rank_records").size() == 2);
    for (const auto& rank : two.at("rank_records")) {
      CHECK(rank.at("peak_live_bytes") == two.at("predicted_peak_live_bytes"));
      CHECK(rank.at("comm_bytes_per_step").get<double>() > 0);
    }
    // The ZeRO paper's formula for the stage, from one process's own peaks: P + G + K
    // shared out as the stage shares them.
    if (tech == "dp")  // one process's own peaks, dp over one rank being plain training
      p1 = one.at("peak_parameter_bytes"), g1 = one.at("peak_gradient_bytes"),
      k1 = one.at("peak_optimizer_state_bytes");
    const double formula = tech == "dp"       ? p1 + g1 + k1
                           : tech == "zero:1" ? p1 + g1 + k1 / 2
                           : tech == "zero:2" ? p1 + (g1 + k1) / 2
                                              : (p1 + g1 + k1) / 2;
    CHECK(two.at("zero_formula_bytes").get<double>() == Approx(formula).epsilon(1e-3));
    const double parameters = two["rank_records"][0].at("peak_parameter_bytes");
    const double state = two["rank_records"][0].at("peak_optimizer_state_bytes");
    if (tech == "dp") {
      dp_parameters = parameters, dp_state = state;
    } else {
      // Sharded: half the optimizer state on each of two ranks (up to the padding of a shard).
      CHECK(state == Approx(dp_state / 2).epsilon(0.01));
      // zero:3 holds its shards and one layer's gathered parameters at a time.
      if (tech == "zero:3")
        CHECK(parameters < dp_parameters);
      else
        CHECK(parameters >= dp_parameters);
    }
  }
  // The network path: Open MPI's TCP transport only, the same weights.
  const nlohmann::json shared = run_ranks(dir, 2, "zero:2");
  const nlohmann::json tcp = run_ranks(dir, 2, "zero:2", "--transport tcp");
  CHECK(tcp.at("config").at("transport") == "tcp");
  CHECK(tcp.at("weights_l2") == shared.at("weights_l2"));
}

TEST_CASE("a rank that dies or hangs ends the run naming it, with no process left", "[ranks]") {
  const TempDir dir;
  struct Case {
    std::string fault, status, says;
  };
  for (const Case& c : {Case{"kill@3", "crash", "rank 1"}, Case{"exit@3", "crash", "rank 1"},
                        Case{"hang@3", "timeout", "no rank finished within 10 s"}}) {
    const std::string json = dir.path("fault-" + c.fault.substr(0, 4) + ".json");
    const CliResult r = run_cli(
        "run --model vgg-mini --image 16 --batch 16 --samples 64 --steps 5 --ranks 2 "
        "--timeout 10 --no-timeline --json " +
            json,
        kEnv + " MEMSTRAT_FAULT=" + c.fault + " MEMSTRAT_FAULT_RANK=1");
    INFO(c.fault << ": " << r.err);
    CHECK(r.exit_code != 0);
    const nlohmann::json record = record_of(json);
    CHECK(record.at("status") == c.status);
    CHECK_THAT(record.at("reason").get<std::string>(), Catch::Contains(c.says));
    CHECK(processes_with(json) == 0);
  }
}

TEST_CASE("a run over ranks that cannot start is refused before anything runs", "[ranks]") {
  const TempDir dir;
  const std::string hosts = dir.path("hosts");
  std::ofstream(hosts) << "# one host that is not\nnosuchhost.invalid slots=2\n";
  struct Case {
    std::string args, says;
  };
  for (const Case& c : {Case{"--ranks 3 --batch 16", "--ranks 3 does not divide the batch of 16"},
                        Case{"--ranks 32 --batch 16", "--ranks 32 is more ranks than the batch of 16"},
                        Case{"--ranks 2 --batch 16 --hostfile " + hosts, "host 'nosuchhost.invalid' does not resolve"},
                        Case{"--ranks 2 --batch 16 --transport udp", "udp not in {tcp}"}}) {
    const CliResult r = run_cli("run --model vgg-mini --image 16 --steps 1 " + c.args, kEnv);
    INFO(c.args << ": " << r.err);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains(c.says));
  }
  // train over ranks checks the same before it starts mpirun.
  const CliResult train = run_cli("train --model vgg-mini --image 16 --batch 16 --steps 1 --ranks 3", kEnv);
  CHECK(train.exit_code != 0);
  CHECK_THAT(train.err, Catch::Contains("--ranks 3 does not divide the batch of 16"));
}

TEST_CASE("fit --max-ranks finds the fewest ranks a strategy trains on within a rank's budget", "[ranks]") {
  // Under AddressSanitizer RSS is shadow memory more than the model's; the normal build tests it.
  if (kSanitized) return;
  const TempDir dir;
  // Sixteen layers of 1536: 423 MiB of live bytes in one process and under dp a rank
  // (every rank holds all of it), under zero:3 229 MiB a rank over two (estimator); Open
  // MPI's libraries and buffers add about 30 MiB to a rank's RSS.
  const std::string out = dir.path("fit.json");
  std::string layers = "1536";
  for (int i = 1; i < 16; ++i) layers += ",1536";
  const CliResult r = run_cli("fit --model mlp:" + layers +
                                  " --image 16 --budget 400MiB --techs dp zero:3 --max-ranks 2 --steps 1 "
                                  "--max-batch 16 --out " +
                                  out,
                              kEnv);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::ifstream in(out);
  const nlohmann::json document = nlohmann::json::parse(in);
  const nlohmann::json& results = document.at("fit").at("results");
  REQUIRE(results.size() == 2);
  for (const nlohmann::json& entry : results) {
    INFO(entry.dump());
    // One rank never trains: it was tried and refused or stopped, and says so.
    REQUIRE(entry.at("ranks") == 2);
    REQUIRE(entry.at("fewer_ranks").at("ranks") == 1);
    CHECK(entry.at("fewer_ranks").at("status") != "ok");
    if (entry.at("tech") == "dp") {
      CHECK(entry.at("max_batch") == 0);  // every rank holds the whole model: more ranks do not help
    } else {
      CHECK(entry.at("max_batch").get<int>() >= 2);
      CHECK(entry.at("max_batch").get<int>() % 2 == 0);  // a global batch, whole slices
    }
  }
  // The run that proves zero:3's answer is in the results, over two ranks, every rank within the budget.
  bool proved = false;
  for (const nlohmann::json& record : document.at("benchmarks"))
    if (record.at("config").at("tech") == "zero:3" && record.at("status") == "ok") {
      CHECK(record.at("config").at("ranks") == 2);
      for (const auto& rank : record.at("rank_records"))
        CHECK(rank.at("peak_rss_bytes").get<double>() <= 400.0 * 1048576);
      proved = true;
    }
  CHECK(proved);
}

TEST_CASE("a suite's budget over ranks is each rank's: within it they train, a rank over it is oom", "[ranks]") {
  if (kSanitized) return;  // RSS under AddressSanitizer is its shadow memory more than the run's
  const TempDir dir;
  // Sixteen layers of 1536 under dp: 421 MiB live a rank, most of a rank's RSS its own
  // (not shared libraries' pages, which the cgroup charges elsewhere).
  std::string layers = "1536";
  for (int i = 1; i < 16; ++i) layers += ",1536";
  const auto suite = [&](const std::string& name, const std::string& budget) {
    std::ofstream(dir.path(name + ".json"))
        << R"({"repeats": 1, "steps": 2, "warmup": 1, )" << budget << R"("matrix": [{"models": ["mlp:)" << layers
        << R"("], "image": 16, "batches": [16], "ranks": 2, "samples": 64,
               "allocators": ["malloc"], "techniques": ["dp"]}]})";
    const CliResult r = run_cli(
        "suite --max-reruns 0 --config " + dir.path(name + ".json") + " --out " + dir.path(name + "-r.json"), kEnv);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    return record_of(dir.path(name + "-r.json"));
  };
  const nlohmann::json unbounded = suite("unbounded", "");
  REQUIRE(unbounded.at("status") == "ok");
  const double rank_peak = unbounded.at("peak_rss_bytes");  // the largest rank's
  // A budget one rank holds but two ranks together would not: it is each rank's.
  const nlohmann::json roomy = suite("roomy", fmt::format(R"("budget": "{}KiB", )", int(rank_peak / 1024) + 16384));
  CHECK(roomy.at("status") == "ok");
  CHECK(rank_peak + 16 * 1048576.0 < 2 * rank_peak);
  // Under the rank's peak: oom, and the record says which rank and by how much.
  const nlohmann::json tight = suite("tight", fmt::format(R"("budget": "{}KiB", )", int(rank_peak / 1024) - 2048));
  CHECK(tight.at("status") == "oom");
  const std::string reason = tight.value("reason", "");
  INFO(reason);
  CHECK_THAT(reason, Catch::Contains("budget"));
  if (reason.find("peak RSS") != std::string::npos) CHECK_THAT(reason, Catch::Contains("a rank"));
}

TEST_CASE("train --ranks prints one run's steps, rank 0's, with one process's losses", "[ranks]") {
  const std::string args = "train --model vgg-mini --image 16 --batch 16 --samples 64 --steps 3 --seed 7 --eval 16";
  const CliResult one = run_cli(args, kEnv), two = run_cli(args + " --ranks 2 --tech zero:3", kEnv);
  INFO(one.out << one.err << two.out << two.err);
  REQUIRE(one.exit_code == 0);
  REQUIRE(two.exit_code == 0);
  // One model line and one summary: the other rank says nothing.
  CHECK_THAT(two.out, Catch::Contains("batch 16 over 2 ranks (8 each)"));
  const auto count = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  CHECK(count(two.out, "model vgg-mini") == 1);
  CHECK(count(two.out, "/3  loss") == 3);
  // The same losses, step by step, and the same final loss over the first 16 samples (to rounding).
  const auto losses = [](const std::string& text) {
    std::vector<double> out;
    std::stringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      if (const auto at = line.find("loss "); at != std::string::npos && line.rfind("step", 0) == 0)
        out.push_back(std::stod(line.substr(at + 5)));
    return out;
  };
  const std::vector<double> l1 = losses(one.out), l2 = losses(two.out);
  REQUIRE(l1.size() == 3);
  REQUIRE(l2.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(l2[i] == Approx(l1[i]).epsilon(1e-5));
  const auto final_loss = [](const std::string& text) {
    const auto at = text.find("final weights: loss ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + 20));
  };
  CHECK(final_loss(two.out) == Approx(final_loss(one.out)).epsilon(1e-5));
  CHECK(final_loss(two.out) > 0);
}

// The suite end to end, through the CLI: isolated runs, consistent records,
// budgets, failures recorded rather than fatal, resume.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <algorithm>

#include "strategies/registry.h"
#include "tests/support.h"

using memstrat::test::run_cli;
using nlohmann::json;

namespace {

json load(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::vector<json> records(const json& results, const std::string& run_type) {
  std::vector<json> out;
  for (const auto& r : results["benchmarks"])
    if (r.value("run_type", "") == run_type) out.push_back(r);
  return out;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("the quick preset: every record complete and consistent, losses equal across allocators", "[suite]") {
  memstrat::test::TempDir dir;
  const std::string out = dir.path("quick.json");
  const auto result = run_cli("suite --max-reruns 0 --preset quick --out " + out);
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
  const json results = load(out);
  for (const char* key : {"cpu_model", "num_cpus", "memory_bytes", "kernel", "transparent_hugepages", "libc",
                          "compiler", "git_revision", "command_line", "allocator_versions"})
    REQUIRE(results["context"].contains(key));
  // Every allocator of the preset that this build can run (a sanitizer build preloads none).
  std::size_t refused = 0;
  for (const char* allocator : {"jemalloc", "mimalloc", "tcmalloc", "malloc"}) {
    const bool runs_here = memstrat::refused_in_this_build(allocator).empty();
    refused += !runs_here;
    REQUIRE(results["context"]["allocator_versions"].contains(allocator) == runs_here);
  }

  std::map<std::string, json> losses_by_tech;
  const auto iterations = records(results, "iteration");
  REQUIRE(iterations.size() == 2 * (17 - refused));  // 17 cells x 2 repeats
  for (const auto& r : iterations) {
    INFO(r["name"]);
    REQUIRE(r["status"] == "ok");
    for (const char* key :
         {"real_time", "cpu_time", "step_ms", "step_ms_p10", "step_ms_p90", "samples_per_s", "peak_rss_bytes",
          "baseline_rss_bytes", "peak_live_bytes", "retained_bytes", "alloc_calls_per_step", "alloc_ns_per_step",
          "minor_faults", "predicted_peak_live_bytes", "loss_first", "loss_last"})
      REQUIRE(r.contains(key));
    REQUIRE(r["peak_rss_bytes"].get<double>() >= r["baseline_rss_bytes"].get<double>());
    REQUIRE(r["step_ms_p10"].get<double>() <= r["step_ms"].get<double>());
    REQUIRE(r["step_ms"].get<double>() <= r["step_ms_p90"].get<double>());
    REQUIRE(r["predicted_peak_live_bytes"] == r["peak_live_bytes"]);
    // Where the allocator holds no more than asked (every buffer its own mapping), the
    // live bytes training added cannot exceed what RSS grew by.
    if (r["config"]["alloc"] == "mmap")
      REQUIRE(r["peak_live_bytes"].get<double>() - r["baseline_live_bytes"].get<double>() <=
              r["peak_rss_bytes"].get<double>() - r["baseline_rss_bytes"].get<double>());
    if (r.contains("fragmentation")) REQUIRE((r["fragmentation"] >= 0.0 && r["fragmentation"] <= 1.0));
    // An allocator never changes what is learned: the same losses, bit for bit, for every one.
    const std::string tech = r["config"]["tech"];
    if (!losses_by_tech.count(tech)) losses_by_tech[tech] = r["losses"];
    REQUIRE(r["losses"] == losses_by_tech[tech]);
  }
  REQUIRE(records(results, "aggregate").size() == 17 - refused);
}

TEST_CASE("peak RSS agrees with GNU time's maximum RSS of the same run within 3%", "[suite]") {
  memstrat::test::TempDir dir;
  // Training's peak well above setup's, so that both see the same maximum.
  const std::string args =
      "run --model vgg-mini --batch 128 --steps 2 --warmup 1 --samples 128 --no-timeline --json " + dir.path("r.json");
  const std::string command =
      std::string("/usr/bin/time -f %M -o ") + dir.path("time.txt") + " " + MEMSTRAT_CLI + " " + args + " > /dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
  double time_kib = 0;
  std::ifstream(dir.path("time.txt")) >> time_kib;
  const json r = load(dir.path("r.json"))["benchmarks"][0];
  const double ours = r["peak_rss_bytes"].get<double>(), theirs = time_kib * 1024.0;
  INFO("memstrat " << ours / 1048576 << " MiB, GNU time " << theirs / 1048576 << " MiB");
  REQUIRE(r["peak_rss_source"] == "VmHWM");
  REQUIRE(std::fabs(ours - theirs) / theirs <= 0.03);
}

TEST_CASE("over the budget: recorded oom, and the suite goes on", "[suite]") {
  memstrat::test::TempDir dir;
  // The over-budget cell's peak live bytes are just under the budget (94%: the estimator lets
  // it run), and RSS adds the program's own pages and the dataset on top: the budget stops it.
  // Under AddressSanitizer a run holds far more (shadow memory; malloc's quarantine keeps
  // freed blocks), so the budget and the batch scale up together: the same runs stay in and out.
  const std::string budget = memstrat::test::kSanitized ? "256MiB" : "64MiB";
  const std::string over = memstrat::test::kSanitized ? "448" : "96";  // live: 242 MiB at 448, 60.2 MiB at 96
  write(dir.path("budget.json"), R"({"repeats": 1, "steps": 2, "warmup": 1, "budget": ")" + budget + R"(", "matrix": [
    {"models": ["vgg-mini"], "batches": [16], "allocators": ["malloc"]},
    {"models": ["vgg-mini"], "batches": [)" +
                                     over + R"(], "allocators": ["malloc"]},
    {"models": ["vgg-mini"], "batches": [512], "allocators": ["malloc"]},
    {"models": ["mlp:64"], "batches": [8], "allocators": ["malloc"]}]})");
  const auto result =
      run_cli("suite --max-reruns 0 --config " + dir.path("budget.json") + " --out " + dir.path("r.json"));
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
  std::map<std::string, json> by_name;
  for (const auto& r : records(load(dir.path("r.json")), "iteration")) by_name[r["name"]] = r;
  REQUIRE(by_name.at("vgg-mini/b16/malloc/none")["status"] == "ok");
  const json& killed = by_name.at("vgg-mini/b" + over + "/malloc/none");
  REQUIRE(killed["status"] == "oom");  // killed by the cgroup or the watchdog
  REQUIRE(killed["reason"].get<std::string>().find("budget") != std::string::npos);
  REQUIRE(by_name.at("vgg-mini/b512/malloc/none")["status"] == "oom");  // refused from the estimate
  REQUIRE(by_name.at("vgg-mini/b512/malloc/none")["reason"].get<std::string>().find("not run") != std::string::npos);
  REQUIRE(by_name.at("mlp:64/b8/malloc/none")["status"] == "ok");
}

TEST_CASE("a child that crashes, is killed or hangs is recorded so, the file stays valid", "[suite]") {
  memstrat::test::TempDir dir;
  write(dir.path("one.json"), R"({"repeats": 1, "steps": 3, "warmup": 0, "timeout": 5, "matrix": [
    {"models": ["mlp:64"], "batches": [8], "allocators": ["malloc"]}]})");
  const struct {
    const char* fault;
    const char* status;
    const char* reason;
  } cases[] = {{"segv@2", "crash", "Segmentation"},
               {"kill@2", "crash", "Killed"},
               {"exit@2", "crash", "injected failure"},
               {"hang@2", "timeout", "time limit"}};
  for (const auto& c : cases) {
    const std::string out = dir.path(std::string(c.fault) + ".json");
    const auto result = run_cli("suite --max-reruns 0 --config " + dir.path("one.json") + " --out " + out,
                                std::string("MEMSTRAT_FAULT=") + c.fault);
    INFO(c.fault << ": " << result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const auto r = records(load(out), "iteration").at(0);
    REQUIRE(r["status"] == c.status);
    REQUIRE(r["reason"].get<std::string>().find(c.reason) != std::string::npos);
  }
}

TEST_CASE("an interrupted suite resumes without redoing finished runs", "[suite]") {
  memstrat::test::TempDir dir;
  write(dir.path("three.json"), R"({"repeats": 2, "steps": 2, "warmup": 0, "matrix": [
    {"models": ["mlp:64"], "batches": [8], "allocators": ["malloc", "pool", "mmap"]}]})");
  const std::string out = dir.path("r.json");
  // Interrupt once the first runs are on disk; the hang keeps later runs from finishing first.
  const std::string command =
      std::string(MEMSTRAT_CLI) + " suite --max-reruns 0 --config " + dir.path("three.json") + " --out " + out;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("MEMSTRAT_FAULT", "hang@2", 1);
    ::execl("/bin/sh", "sh", "-c", ("exec " + command + " >/dev/null 2>&1").c_str(), nullptr);
    ::_exit(127);
  }
  // The first run hangs at step 2; give the suite a moment, then interrupt it.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 130);
  // Nothing finished: no file. Run the first cell alone to completion, then the whole matrix with --resume.
  write(dir.path("first.json"), R"({"repeats": 2, "steps": 2, "warmup": 0, "matrix": [
    {"models": ["mlp:64"], "batches": [8], "allocators": ["malloc"]}]})");
  REQUIRE(run_cli("suite --max-reruns 0 --config " + dir.path("first.json") + " --out " + out).exit_code == 0);
  const auto before = records(load(out), "iteration");
  REQUIRE(before.size() == 2);
  const auto resumed = run_cli("suite --max-reruns 0 --resume --config " + dir.path("three.json") + " --out " + out);
  INFO(resumed.out << resumed.err);
  REQUIRE(resumed.exit_code == 0);
  REQUIRE(resumed.err.find("2 runs already done") != std::string::npos);
  const auto after = records(load(out), "iteration");
  REQUIRE(after.size() == 6);
  REQUIRE(after[0] == before[0]);  // kept as it was, not run again
  REQUIRE(after[1] == before[1]);
  // The new runs went round by round: every cell's first repeat before any cell's second.
  std::vector<std::pair<std::string, int>> order;
  for (std::size_t i = 2; i < after.size(); ++i)
    order.emplace_back(after[i]["config"]["alloc"].get<std::string>(), after[i]["repetition_index"].get<int>());
  const std::vector<std::pair<std::string, int>> rounds = {{"pool", 0}, {"mmap", 0}, {"pool", 1}, {"mmap", 1}};
  REQUIRE(order == rounds);
}

TEST_CASE("bad suite configurations are refused naming the key or line", "[suite]") {
  memstrat::test::TempDir dir;
  const struct {
    const char* file;
    const char* text;
    const char* expect;
  } cases[] = {
      {"a.json", R"({"matrix": [{"models": ["vgg-mini"], "batches": [0], "allocators": ["malloc"]}]})",
       "matrix[0].batches[0]"},
      {"b.json", R"({"matrix": [{"models": ["vgg-mini"], "batches": [8], "allocators": ["nosuch"]}]})",
       "matrix[0].allocators[0]: unknown allocator"},
      {"c.json", R"({"repeats": "three", "matrix": []})", "repeats"},
      {"d.json",
       R"({"matrix": [{"models": ["vgg-mini"], "batches": [8], "allocators": ["malloc"], "techniques": ["accum:x"]}]})",
       "matrix[0].techniques[0]"},
      {"e.json", R"({"matrix": [{"models": ["resnet"], "batches": [8], "allocators": ["malloc"]}]})",
       "matrix[0].models[0]: unknown model"},
      {"f.json", "{\n\"repeats\": 2,\n\"matrix\": [\n", "line 4"},
      {"g.json",
       R"({"budget": "2 bananas", "matrix": [{"models": ["vgg-mini"], "batches": [8], "allocators": ["malloc"]}]})",
       "budget"},
      {"h.json", R"({"matrix": [{"models": ["vgg-mini"], "batches": [8], "allocators": ["malloc"], "colour": "red"}]})",
       "matrix[0].colour: unknown setting"},
      {"i.toml", "repeats = 2\n[[matrix]]\nmodels = [\"vgg-mini\"\nbatches = [8]\n", "line"},
      {"j.toml", "[[matrix]]\nmodels = [\"vgg-mini\"]\nbatches = [8]\nallocators = [\"malloc\"]\nthreads = [0]\n",
       "matrix[0].threads[0]"},
  };
  for (const auto& c : cases) {
    write(dir.path(c.file), c.text);
    const auto result = run_cli("suite --dry-run --config " + dir.path(c.file));
    INFO(c.file << ": " << result.err);
    REQUIRE(result.exit_code == 1);
    REQUIRE(result.err.find(c.expect) != std::string::npos);
    REQUIRE(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  write(dir.path("ok.toml"),
        "repeats = 1\n[[matrix]]\nmodels = [\"vgg-mini\", \"mlp\"]\nbatches = [8, 16]\n"
        "allocators = [\"malloc\", \"pool:first\"]\ntechniques = [\"none\", \"bf16,accum:2\"]\n");
  const auto ok = run_cli("suite --dry-run --config " + dir.path("ok.toml"));
  REQUIRE(ok.exit_code == 0);
  REQUIRE(ok.out.find("16 cells x 1 repeats") != std::string::npos);
}

TEST_CASE("fit's default strategies leave out accum:4 when --max-batch is below 4", "[suite]") {
  memstrat::test::TempDir dir;
  const std::string out = dir.path("fit.json");
  const auto result = run_cli("fit --model mlp:8 --image 4 --budget 64MiB --steps 1 --max-batch 2 --out " + out);
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
  const json fit = load(out);
  std::vector<std::string> techs;
  for (const auto& r : fit["fit"]["results"]) techs.push_back(r["tech"].get<std::string>());
  REQUIRE(std::count(techs.begin(), techs.end(), "accum:4") == 0);
  REQUIRE(std::count(techs.begin(), techs.end(), "bf16") == 1);  // the others are still tried
  const long runnable = std::count_if(memstrat::allocator_entries().begin(), memstrat::allocator_entries().end(),
                                      [](const memstrat::AllocatorEntry& e) {
                                        return e.name != "preload" && memstrat::refused_in_this_build(e.name).empty();
                                      });
  REQUIRE(std::count(techs.begin(), techs.end(), "none") == runnable);  // every allocator the build can run
}

TEST_CASE("fit proves each answer: the batch trained, the next tried above it did not, both runs kept", "[suite]") {
  // Under AddressSanitizer a run's RSS is shadow memory and quarantine more than the
  // model's: the budget would not bite where it does here. The normal build tests it.
  if (memstrat::test::kSanitized) return;
  memstrat::test::TempDir dir;
  const std::string out = dir.path("fit.json");
  const auto result = run_cli(
      "fit --model vgg-mini --image 16 --budget 48MiB --allocs pool --steps 1 "
      "--max-batch 1024 --out " +
      out);
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
  const json document = load(out);
  const json& entry = document["fit"]["results"].at(0);
  INFO(entry.dump());
  const int batch = entry["max_batch"], above = entry["failed"]["batch"];
  REQUIRE(batch > 0);
  REQUIRE(entry["confirmed"] == true);
  REQUIRE(above > batch);
  REQUIRE(entry["predicted_batch"].get<int>() > 0);  // bracketed by prediction first
  bool trained = false, refused_above = false;
  for (const auto& t : entry["tries"]) {
    const int b = t["batch"];
    if (t["kind"] == "run" && b == batch) trained = trained || t["status"] == "ok";
    if (t["kind"] == "run" && b > batch) REQUIRE(t["status"] != "ok");  // nothing above the answer trained
    if (t["kind"] == "run" && b > batch && b < above) FAIL("a failed run between the answer and the one above");
    if (b == above) refused_above = t["status"] == "oom" || t["status"] == "refused";
  }
  REQUIRE(trained);
  REQUIRE(refused_above);
  // Both runs are in the results.
  std::map<int, std::string> runs;  // batch -> status
  for (const auto& r : records(document, "iteration")) runs[r["config"]["batch"].get<int>()] = r["status"];
  REQUIRE(runs.at(batch) == "ok");
  if (entry["failed"]["status"] == "oom") REQUIRE(runs.at(above) == "oom");
}

TEST_CASE("a suite predicts each cell's peak RSS once, before it runs, into every record", "[suite][predict]") {
  memstrat::test::TempDir dir;
  const std::string matrix =
      R"("matrix": [{"models": ["vgg-mini"], "image": 16, "batches": [16], "allocators": ["pool", "mmap"]}]})";
  write(dir.path("on.json"), R"({"repeats": 2, "steps": 1, "warmup": 1, )" + matrix);
  write(dir.path("off.json"), R"({"repeats": 1, "steps": 1, "warmup": 1, "predict": false, )" + matrix);
  REQUIRE(
      run_cli("suite --max-reruns 0 --config " + dir.path("on.json") + " --out " + dir.path("on-r.json")).exit_code ==
      0);
  const json on = load(dir.path("on-r.json"));
  std::map<std::string, std::set<double>> predicted;
  for (const auto& r : records(on, "iteration")) {
    INFO(r.dump());
    REQUIRE(r.contains("prediction_seconds"));
    const double p = r["predicted_peak_rss_bytes"].get<double>();
    REQUIRE(p > r["baseline_rss_bytes"].get<double>());  // the step's buffers on top of setup's
    predicted[r["run_name"]].insert(p);
  }
  REQUIRE(predicted.size() == 2);
  for (const auto& [cell, values] : predicted) REQUIRE(values.size() == 1);  // once per cell
  for (const auto& a : records(on, "aggregate")) {
    const double expected = (a["predicted_peak_rss_bytes"].get<double>() - a["peak_rss_bytes"].get<double>()) /
                            a["peak_rss_bytes"].get<double>();
    REQUIRE(a["prediction_error"].get<double>() == Approx(expected));
  }
  REQUIRE(
      run_cli("suite --max-reruns 0 --config " + dir.path("off.json") + " --out " + dir.path("off-r.json")).exit_code ==
      0);
  for (const auto& r : records(load(dir.path("off-r.json")), "iteration"))
    REQUIRE_FALSE(r.contains("predicted_peak_rss_bytes"));
}

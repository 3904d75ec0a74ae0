// `memstrat exec` end to end: a program that is not memstrat (tests/workloads/
// exec_workload.cpp) under every process-wide allocator; the proof of which one
// served malloc, step marks, per-step peaks, the process tree, and each way a
// command can fail recorded with its reason while the other runs go on.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "strategies/registry.h"
#include "tests/support.h"

using memstrat::test::run_cli;
using nlohmann::json;

namespace {

constexpr double kMiB = 1048576.0;

json load(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::vector<json> iterations(const json& results) {
  std::vector<json> out;
  for (const auto& r : results["benchmarks"])
    if (r.value("run_type", "") == "iteration") out.push_back(r);
  return out;
}

const json* aggregate_of(const json& results, const std::string& cell) {
  for (const auto& r : results["benchmarks"])
    if (r.value("run_type", "") == "aggregate" && r["run_name"] == cell) return &r;
  return nullptr;
}

std::string library_of(const std::string& name) {
  for (const auto& e : memstrat::allocator_entries())
    if (e.name == name) return std::string(e.library);
  return "";
}

// exec with `options`, then the workload with `args`; the results file is read back.
struct Exec {
  memstrat::test::CliResult cli;
  json results;
};
Exec exec(const memstrat::test::TempDir& dir, const std::string& options, const std::string& program,
          const std::string& args) {
  const std::string path = dir.path("exec.json");
  Exec e{run_cli("exec " + options + " --json " + path + " -- " + program + " " + args), json()};
  if (std::filesystem::exists(path)) e.results = load(path);
  return e;
}

}  // namespace

TEST_CASE("exec: every allocator proven, in interleaved rounds, with step times and per-step peaks", "[exec]") {
  memstrat::test::TempDir dir;
  const auto e =
      exec(dir, "--alloc malloc,jemalloc,mimalloc,tcmalloc --repeats 2 --batch 8", EXEC_WORKLOAD_dynamic, "steps 4 48");
  INFO(e.cli.err);
  REQUIRE(e.cli.exit_code == 0);
  const auto runs = iterations(e.results);
  REQUIRE(runs.size() == 8);
  // Round two starts one allocator further on.
  const std::vector<std::string> order = {"malloc",   "jemalloc", "mimalloc", "tcmalloc",
                                          "jemalloc", "mimalloc", "tcmalloc", "malloc"};
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& r = runs[i];
    INFO(r.dump(1));
    CHECK(r["allocator"] == order[i]);
    CHECK(r["repetition_index"] == int(i / 4));
    REQUIRE(r["status"] == "ok");
    // The probe, inside the workload, saw the allocator under test serve malloc.
    const std::string provider = r["malloc_provider"];
    if (order[i] == "malloc")
      CHECK(std::filesystem::path(provider).filename().string().rfind("libc.so", 0) == 0);
    else
      CHECK(provider == std::filesystem::canonical(library_of(order[i])).string());
    // Four marked steps, the first a warm-up: three timed, each about 20 ms or more.
    REQUIRE(r["step_times_ms"].size() == 3);
    for (const auto& t : r["step_times_ms"]) CHECK(t.get<double>() >= 19.0);
    CHECK(r["warmup_steps"] == 1);
    // Each step held 48 MiB: its own peak says so, and the run's is no less.
    REQUIRE(r["step_peak_rss_bytes"].size() == 4);
    for (const auto& p : r["step_peak_rss_bytes"]) CHECK(p.get<double>() >= 48 * kMiB);
    CHECK(r["peak_rss_bytes"].get<double>() >= 48 * kMiB);
    CHECK(r["peak_rss_bytes"].get<double>() < 48 * kMiB + r["baseline_rss_bytes"].get<double>() + 16 * kMiB);
    CHECK(r["tree_peak_rss_bytes"].get<double>() >= 40 * kMiB);  // sampled every 10 ms, a 20 ms step is seen
    CHECK(r["exit_code"] == 0);
    CHECK(r["cpu_s"].get<double>() > 0.0);
    // glibc maps a 48 MiB block afresh each step (above its mmap threshold): every page
    // of every step faults in. The caching allocators fault in at least one step's.
    CHECK(r["minor_faults"].get<double>() >= (order[i] == "malloc" ? 4 : 1) * 48 * 256 * 0.9);
    // The allocator's view, at the step's highest demand: 48 MiB handed out wherever it tells.
    if (order[i] != "mimalloc") {
      REQUIRE(r.contains("allocator_allocated_bytes"));
      CHECK(r["allocator_allocated_bytes"].get<double>() >= 48 * kMiB);
      CHECK(r["fragmentation"].get<double>() < 0.5);
    } else {
      CHECK_THAT(r.value("probe_note", ""), Catch::Contains("no allocated count"));
    }
    CHECK(r.contains("rss_timeline") == (i < 4));  // the first round's runs keep theirs
  }
  const json* median = aggregate_of(e.results, "exec/exec-workload-dynamic/jemalloc");
  REQUIRE(median != nullptr);
  CHECK((*median)["status"] == "ok");
  CHECK((*median)["step_ms_repeats"].size() == 2);
  CHECK((*median)["samples_per_s"].get<double>() > 0.0);
  const auto& timeline = runs[0]["rss_timeline"];
  CHECK(timeline["step_end_ms"].size() == 4);
  CHECK(timeline["t_ms"].size() == timeline["rss_bytes"].size());
  CHECK_THAT(e.cli.out, Catch::Contains("exec/exec-workload-dynamic/tcmalloc"));
}

TEST_CASE("exec: each step's peak is its own; without marks, whole-process figures only", "[exec]") {
  memstrat::test::TempDir dir;
  auto e = exec(dir, "--alloc malloc --repeats 1 --warmup 0", EXEC_WORKLOAD_dynamic, "steps 3 16 shrink");
  REQUIRE(e.cli.exit_code == 0);
  json r = iterations(e.results).at(0);
  REQUIRE(r["step_peak_rss_bytes"].size() == 3);
  // Steps of 48, 32, 16 MiB: each peak is that step's, not the run's so far. (Not
  // against baseline_rss_bytes: the probe's thread reads that when it reads the begin
  // mark, and the step may have touched pages by then.)
  const auto& peaks = r["step_peak_rss_bytes"];
  for (int i = 0; i < 3; ++i) {
    CHECK(peaks[i].get<double>() >= 16 * (3 - i) * kMiB);
    if (i > 0) CHECK_THAT(peaks[i - 1].get<double>() - peaks[i].get<double>(), Catch::WithinAbs(16 * kMiB, 2 * kMiB));
  }
  CHECK(r["step_times_ms"].size() == 3);

  e = exec(dir, "--alloc malloc --repeats 2", EXEC_WORKLOAD_dynamic, "steps 2 16 nomarks");
  REQUIRE(e.cli.exit_code == 0);
  r = iterations(e.results).at(0);
  CHECK_FALSE(r.contains("step_ms"));
  CHECK(r["peak_rss_bytes"].get<double>() >= 16 * kMiB);
  CHECK_THAT(r["peak_rss_source"].get<std::string>(), Catch::Contains("whole process"));
  CHECK_THAT(r["probe_note"].get<std::string>(), Catch::Contains("no step marks"));
  const json* median = aggregate_of(e.results, "exec/exec-workload-dynamic/malloc");
  REQUIRE(median != nullptr);
  CHECK((*median)["status"] == "ok");
  CHECK((*median).contains("peak_rss_bytes"));

  e = exec(dir, "--alloc malloc --repeats 1", EXEC_WORKLOAD_dynamic, "steps 2 1 badmark");
  REQUIRE(e.cli.exit_code == 0);
  CHECK_THAT(iterations(e.results).at(0)["probe_note"].get<std::string>(), Catch::Contains("'bogus'"));
}

TEST_CASE("exec: a forked child counts in the tree, not in the process's own peak", "[exec]") {
  memstrat::test::TempDir dir;
  const auto e = exec(dir, "--alloc malloc,jemalloc --repeats 1 --warmup 0", EXEC_WORKLOAD_dynamic, "fork 96");
  REQUIRE(e.cli.exit_code == 0);
  for (const auto& r : iterations(e.results)) {
    INFO(r.dump(1));
    CHECK(r["processes"].get<int>() >= 2);
    CHECK(r["tree_peak_rss_bytes"].get<double>() >= 96 * kMiB);
    CHECK(r["peak_rss_bytes"].get<double>() < 48 * kMiB);
    CHECK_THAT(r["probe_note"].get<std::string>(), Catch::Contains("1 other process ran"));
  }
}

TEST_CASE("exec: failures are recorded with their reason and the other runs go on", "[exec][bad-input]") {
  memstrat::test::TempDir dir;
  SECTION("exit status") {
    const auto e = exec(dir, "--alloc malloc,jemalloc --repeats 2", EXEC_WORKLOAD_dynamic, "exit 7");
    CHECK(e.cli.exit_code == 3);
    const auto runs = iterations(e.results);
    REQUIRE(runs.size() == 4);
    for (const auto& r : runs) {
      CHECK(r["status"] == "crash");
      CHECK(r["exit_code"] == 7);
      CHECK_THAT(r["reason"].get<std::string>(),
                 Catch::Contains("exited with status 7") && Catch::Contains("failing on purpose"));
    }
  }
  SECTION("signal") {
    const auto e = exec(dir, "--alloc malloc --repeats 1", EXEC_WORKLOAD_dynamic, "signal");
    CHECK(e.cli.exit_code == 3);
    const json r = iterations(e.results).at(0);
    CHECK(r["status"] == "crash");
    CHECK(r["exit_signal"] == 11);
    CHECK_THAT(r["reason"].get<std::string>(), Catch::Contains("Segmentation fault"));
  }
  SECTION("hang") {
    const auto start = std::chrono::steady_clock::now();
    const auto e = exec(dir, "--alloc malloc,tcmalloc --repeats 1 --timeout 1", EXEC_WORKLOAD_dynamic, "sleep 60");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
    CHECK(e.cli.exit_code == 3);
    for (const auto& r : iterations(e.results)) {
      CHECK(r["status"] == "timeout");
      CHECK_THAT(r["reason"].get<std::string>(), Catch::Contains("time limit of 1 s"));
    }
  }
  SECTION("over the budget") {
    const auto e =
        exec(dir, "--alloc malloc,jemalloc --repeats 1 --memory-budget 64MiB", EXEC_WORKLOAD_dynamic, "hog 400");
    CHECK(e.cli.exit_code == 3);
    const auto runs = iterations(e.results);
    REQUIRE(runs.size() == 2);
    for (const auto& r : runs) {
      CHECK(r["status"] == "oom");
      CHECK(r["budget_bytes"].get<double>() == 64 * kMiB);
    }
  }
  SECTION("not found") {
    const auto e = exec(dir, "--alloc malloc,jemalloc", "/no/such/program", "x");
    CHECK(e.cli.exit_code == 2);
    CHECK_THAT(e.cli.err, Catch::Contains("command not found: /no/such/program"));
    REQUIRE(iterations(e.results).size() == 2);
    CHECK(iterations(e.results)[0]["status"] == "crash");
    const auto bare = exec(dir, "", "no-such-program-anywhere", "");
    CHECK(bare.cli.exit_code == 2);
    CHECK_THAT(bare.cli.err, Catch::Contains("not in PATH"));
  }
  SECTION("not executable") {
    const std::string script = dir.path("script.sh");
    std::ofstream(script) << "#!/bin/sh\necho hi\n";
    const auto e = exec(dir, "--alloc malloc", script, "");
    CHECK(e.cli.exit_code == 2);
    CHECK_THAT(e.cli.err, Catch::Contains("not executable"));
  }
}

TEST_CASE("exec: a program nothing can be preloaded into is refused, with the reason", "[exec][bad-input]") {
  memstrat::test::TempDir dir;
  SECTION("static binary") {
    const auto e = exec(dir, "--alloc malloc,jemalloc --repeats 1", EXEC_WORKLOAD_static, "steps 2 8");
    CHECK(e.cli.exit_code == 3);
    CHECK_THAT(e.cli.err, Catch::Contains("static binary"));
    const auto runs = iterations(e.results);
    REQUIRE(runs.size() == 2);
    // malloc runs without the probe (whole-process figures); jemalloc is refused.
    CHECK(runs[0]["status"] == "ok");
    CHECK(runs[0]["peak_rss_bytes"].get<double>() > 0.0);
    CHECK_THAT(runs[0]["probe_note"].get<std::string>(), Catch::Contains("nothing preloaded"));
    CHECK(runs[1]["status"] == "crash");
    CHECK_THAT(runs[1]["reason"].get<std::string>(), Catch::Contains("refused") && Catch::Contains("static binary"));
  }
  SECTION("sanitizer runtime") {
    const auto e = exec(dir, "--alloc tcmalloc --repeats 1", EXEC_WORKLOAD_asan, "steps 1 1");
    CHECK(e.cli.exit_code == 3);
    CHECK_THAT(iterations(e.results).at(0)["reason"].get<std::string>(), Catch::Contains("__asan_init"));
  }
  SECTION("setuid") {
    const std::string copy = dir.path("setuid-workload");
    std::filesystem::copy_file(EXEC_WORKLOAD_dynamic, copy);
    REQUIRE(::chown(copy.c_str(), 65534, 65534) == 0);  // nobody: the tests run as root
    REQUIRE(::chmod(copy.c_str(), 04755) == 0);
    const auto e = exec(dir, "--alloc jemalloc --repeats 1", copy, "steps 1 1");
    CHECK(e.cli.exit_code == 3);
    CHECK_THAT(iterations(e.results).at(0)["reason"].get<std::string>(), Catch::Contains("setuid"));
  }
  SECTION("a script's interpreter is what is judged") {
    const std::string script = dir.path("wrapper.sh");
    std::ofstream(script) << "#!" << EXEC_WORKLOAD_static << " steps\n";
    ::chmod(script.c_str(), 0755);
    const auto e = exec(dir, "--alloc mimalloc --repeats 1", script, "");
    CHECK(e.cli.exit_code == 3);
    CHECK_THAT(iterations(e.results).at(0)["reason"].get<std::string>(), Catch::Contains("static binary"));
  }
  SECTION("a library that does not serve malloc") {
    const auto e =
        exec(dir, "--alloc preload:/lib/x86_64-linux-gnu/libm.so.6 --repeats 1", EXEC_WORKLOAD_dynamic, "steps 1 1");
    CHECK(e.cli.exit_code == 3);
    CHECK_THAT(iterations(e.results).at(0)["reason"].get<std::string>(),
               Catch::Contains("malloc was served by") && Catch::Contains("libc.so"));
  }
}

TEST_CASE("exec: bad options are refused before anything runs", "[exec][bad-input]") {
  memstrat::test::TempDir dir;
  const std::string out = " --json " + dir.path("x.json");
  struct Case {
    std::string args, says;
  };
  for (const Case& c : std::vector<Case>{
           {"exec" + out, "no command to run"},
           {"exec" + out + " --", "no command to run"},
           {"exec --alloc pool" + out + " -- /bin/true", "strategy of memstrat's own kernel"},
           {"exec --alloc nosuch" + out + " -- /bin/true", "nosuch"},
           {"exec --alloc preload:/no/lib.so" + out + " -- /bin/true", "no such library"},
           {"exec --alloc jemalloc:x" + out + " -- /bin/true", "takes no option"},
           {"exec --repeats 0" + out + " -- /bin/true", "--repeats"},
           {"exec --memory-budget 2Gb" + out + " -- /bin/true", "bits"},
           {"exec --json /no/such/dir/x.json -- /bin/true", "results file"},
       }) {
    INFO(c.args);
    const auto r = run_cli(c.args);
    CHECK(r.exit_code != 0);
    CHECK(r.exit_code != 3);
    CHECK_THAT(r.err, Catch::Contains(c.says));
    CHECK_FALSE(std::filesystem::exists(dir.path("x.json")));
  }
}

TEST_CASE("suite: command cells run beside kernel cells, as exec runs them", "[exec][suite]") {
  memstrat::test::TempDir dir;
  const std::string config = dir.path("c.toml");
  std::ofstream(config) << "repeats = 2\nsteps = 2\nwarmup = 1\npredict = false\n"
                        << "[[matrix]]\nmodels = [\"mlp:16\"]\nbatches = [4]\nallocators = [\"malloc\"]\n"
                        << "[[matrix]]\ncommand = [\"" << EXEC_WORKLOAD_dynamic << "\", \"steps\", \"3\", \"24\"]\n"
                        << "allocators = [\"malloc\", \"jemalloc\"]\nlabel = \"wl\"\nbatch = 4\n"
                        << "[[matrix]]\ncommand = [\"/no/such/program\"]\nallocators = [\"malloc\"]\n";
  const auto cli = run_cli("suite --config " + config + " --out " + dir.path("s.json"));
  INFO(cli.err);
  CHECK(cli.exit_code == 0);  // a suite records failed runs and goes on
  const json results = load(dir.path("s.json"));
  REQUIRE(aggregate_of(results, "mlp:16/b4/malloc/none") != nullptr);
  for (const std::string alloc : {"malloc", "jemalloc"}) {
    const json* cell = aggregate_of(results, "exec/wl/" + alloc);
    REQUIRE(cell != nullptr);
    INFO(cell->dump(1));
    CHECK((*cell)["status"] == "ok");
    CHECK((*cell)["config"]["label"] == "wl");
    CHECK((*cell)["step_ms_repeats"].size() == 2);
    CHECK((*cell)["peak_rss_bytes"].get<double>() >= 24 * kMiB);
    const std::string provider = (*cell)["malloc_provider"];
    if (alloc == "jemalloc") CHECK(provider == std::filesystem::canonical(library_of("jemalloc")).string());
  }
  const json* missing = aggregate_of(results, "exec/program/malloc");
  REQUIRE(missing != nullptr);
  CHECK((*missing)["status"] == "crash");
  CHECK_THAT((*missing)["reason"].get<std::string>(), Catch::Contains("not found"));

  // A kernel strategy is no allocator for a command: refused before anything runs.
  std::ofstream(config) << "[[matrix]]\ncommand = [\"/bin/true\"]\nallocators = [\"pool\"]\n";
  const auto bad = run_cli("suite --config " + config + " --out " + dir.path("t.json"));
  CHECK(bad.exit_code == 1);  // a bad suite configuration, as for kernel cells
  CHECK_THAT(bad.err, Catch::Contains("allocators") && Catch::Contains("pool"));
  CHECK_FALSE(std::filesystem::exists(dir.path("t.json")));
}

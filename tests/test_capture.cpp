// `memstrat exec --capture` and `memstrat trace replay` end to end: the malloc-family
// calls of a program that is not memstrat (tests/workloads/exec_workload.cpp churn)
// recorded by the capture library, placed in the steps its marks say, replayed through
// strategies; and a capture that cannot write, recorded and marked incomplete.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "benches/cli/trace.h"
#include "strategies/registry.h"
#include "tests/support.h"

using memstrat::test::run_cli;
using nlohmann::json;
namespace cli = memstrat::cli;

namespace {

constexpr double kMiB = 1048576.0;

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const json* record_named(const json& results, const std::string& name) {
  for (const auto& r : results["benchmarks"])
    if (r.value("run_type", "") == "iteration" && r["run_name"] == name) return &r;
  return nullptr;
}

const std::string kCaptured = "exec/exec-workload-dynamic+capture/malloc";

// Allocations of `bytes` in `events`, counted before the step's end mark only.
int allocations_of(const std::vector<cli::TraceEvent>& events, std::size_t bytes) {
  int n = 0;
  for (const auto& e : events) {
    if (e.op == cli::TraceEvent::Op::step_end) break;
    if (e.op == cli::TraceEvent::Op::allocate && e.request.bytes == bytes) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("capture: every call of the workload, placed in its marked steps, replayed through strategies",
          "[exec][capture]") {
  memstrat::test::TempDir dir;
  const std::string trace_path = dir.path("churn.trace.json"), results = dir.path("exec.json");
  const auto e = run_cli("exec --alloc malloc --repeats 1 --capture " + trace_path + " --json " + results + " -- " +
                         EXEC_WORKLOAD_dynamic + " churn 3 1000");
  INFO(e.err);
  REQUIRE(e.exit_code == 0);
  CHECK_THAT(e.out, Catch::Contains("capture slowdown"));
  const json doc = json::parse(text_of(results));
  const json* r = record_named(doc, kCaptured);
  REQUIRE(r != nullptr);
  CHECK((*r)["status"] == "ok");
  // The probe looked behind the capture library for the allocator that served.
  CHECK_THAT((*r)["malloc_provider"].get<std::string>(), Catch::Contains("libc.so"));
  CHECK((*r)["capture"]["complete"] == true);
  CHECK((*r)["capture"]["steps"] == 3);
  CHECK(record_named(doc, "exec/exec-workload-dynamic/malloc") != nullptr);  // the plain run beside it

  const cli::Trace trace = cli::trace_from_text(text_of(trace_path), trace_path);
  REQUIRE(trace.is_captured());
  REQUIRE(trace.steps.size() == 3);
  CHECK(trace.captured["run_peak_rss_bytes"].get<double>() > 0);
  // Setup: the eight 256 KiB blocks, before the first step began.
  CHECK(allocations_of(trace.setup, 256 << 10) == 8);
  std::map<std::uint32_t, std::size_t> step_of;  // buffer -> the step that took it
  for (std::size_t i = 0; i < trace.steps.size(); ++i) {
    INFO("step " << i);
    const auto& step = trace.steps[i];
    CHECK(allocations_of(step, 4 << 20) == 1);
    CHECK(allocations_of(step, 48) == 1000);
    CHECK(std::count_if(step.begin(), step.end(),
                        [](const cli::TraceEvent& ev) { return ev.op == cli::TraceEvent::Op::step_end; }) == 1);
    // The 4 MiB block is freed before the end mark; the 1000-byte one of the step
    // before is freed in this one.
    bool big_freed = false, carried_freed = false;
    for (const auto& ev : step) {
      if (ev.op == cli::TraceEvent::Op::step_end) break;
      if (ev.op == cli::TraceEvent::Op::allocate) step_of[ev.id] = i;
      if (ev.op == cli::TraceEvent::Op::deallocate && ev.request.bytes == (4 << 20)) big_freed = true;
      if (ev.op == cli::TraceEvent::Op::deallocate && ev.request.bytes == 1000)
        carried_freed = step_of.count(ev.id) && step_of[ev.id] + 1 == i;
    }
    CHECK(big_freed);
    CHECK(carried_freed == (i > 0));
  }

  // Replayed: glibc's rise over the steps is the 4 MiB block, as in the run; an arena
  // cannot rewind under the block that outlives each step, so it holds every step's.
  const std::string replays = dir.path("replay.json");
  const auto p = run_cli("trace replay " + trace_path + " --alloc malloc,arena,pool --json " + replays);
  INFO(p.out << p.err);
  REQUIRE(p.exit_code == 0);
  const json out = json::parse(text_of(replays));
  std::map<std::string, json> by;
  for (const auto& x : out["replays"]) by[x["alloc"]] = x;
  REQUIRE(by.size() == 3);
  for (const auto& [name, x] : by) REQUIRE(x["status"] == "ok");
  CHECK(by["malloc"]["steps"] == 3);
  CHECK(by["malloc"]["rise_bytes"].get<double>() >= 3.9 * kMiB);
  // Under AddressSanitizer "malloc" is the sanitizer's, whose quarantine keeps each freed
  // 4 MiB block from being reused: every step's stays (measured 13.8 MiB).
  CHECK(by["malloc"]["rise_bytes"].get<double>() <= (memstrat::test::kSanitized ? 16 : 6) * kMiB);
  CHECK(by["arena"]["rise_bytes"].get<double>() >= 11.9 * kMiB);
  CHECK(by["arena"]["strategy_figures"]["arena_skipped_resets"].get<double>() >= 2);
  CHECK(out["live_bytes_step_peak"].get<double>() >= 6 * kMiB);
  // The run's own rise is there to read against, not checked: the probe reads the
  // first step's RSS when its thread reads the begin mark, after the step may have begun.
  CHECK(out.contains("run_rise_bytes"));
}

TEST_CASE("capture: one that cannot write stops, the run is recorded, the trace is marked incomplete",
          "[exec][capture][bad-input]") {
  memstrat::test::TempDir dir;
  const std::string trace_path = dir.path("t.json"), results = dir.path("exec.json");
  // 80,000 calls a step, 32 bytes each: a 4 MiB limit (written 1 MiB at a time) stops the capture in the second step.
  auto e = run_cli("exec --alloc malloc --repeats 1 --capture " + trace_path + " --capture-limit 4MiB --json " +
                   results + " -- " + EXEC_WORKLOAD_dynamic + " churn 3 40000");
  INFO(e.err);
  REQUIRE(e.exit_code == 0);
  json r = *record_named(json::parse(text_of(results)), kCaptured);
  CHECK(r["status"] == "ok");
  CHECK(r["capture"]["complete"] == false);
  CHECK_THAT(r["capture"]["incomplete_reason"].get<std::string>(), Catch::Contains("size limit"));
  CHECK(r["capture"]["steps_marked"] == 3);
  CHECK(r["capture"]["steps"] == 1);
  CHECK_THAT(r["probe_note"].get<std::string>(), Catch::Contains("incomplete"));
  const cli::Trace partial = cli::trace_from_text(text_of(trace_path), trace_path);
  CHECK(partial.steps.size() == 1);
  CHECK(partial.captured["complete"] == false);
  const auto p = run_cli("trace replay " + trace_path + " --alloc malloc");
  CHECK(p.exit_code == 0);
  CHECK_THAT(p.err, Catch::Contains("the capture is incomplete"));

  // Too small for even the first step: no trace, and the run is still recorded.
  std::filesystem::remove(trace_path);
  e = run_cli("exec --alloc malloc --repeats 1 --capture " + trace_path + " --capture-limit 1KiB --json " + results +
              " -- " + EXEC_WORKLOAD_dynamic + " churn 2 10");
  REQUIRE(e.exit_code == 0);
  r = *record_named(json::parse(text_of(results)), kCaptured);
  CHECK(r["status"] == "ok");
  CHECK_THAT(r["capture"]["error"].get<std::string>(), Catch::Contains("stopped before the first marked step ended"));
  CHECK_FALSE(std::filesystem::exists(trace_path));

  // A full disk: every write fails; the program runs on and exits as it would.
  const std::string command = "MEMSTRAT_CAPTURE_OUT=/dev/full LD_PRELOAD=" + std::string(MEMSTRAT_CAPTURE_PATH) +
                              " setsid " + EXEC_WORKLOAD_dynamic + " churn 2 40000 > " + dir.path("out.txt");
  CHECK(std::system(command.c_str()) == 0);
  CHECK_THAT(text_of(dir.path("out.txt")), Catch::Contains("churned 2 steps"));
}

TEST_CASE("trace replay: bad input is refused with the reason", "[capture][bad-input]") {
  memstrat::test::TempDir dir;
  auto p = run_cli("trace replay " + dir.path("none.json"));
  CHECK(p.exit_code != 0);  // CLI11's status for an option it refuses, as every command's
  CHECK_THAT(p.err, Catch::Contains("none.json"));
  std::ofstream(dir.path("cut.json")) << R"({"memstrat_trace": 2, "buffers": 1, "setup": [["a", 0, 64)";
  p = run_cli("trace replay " + dir.path("cut.json"));
  CHECK(p.exit_code == 2);
  CHECK_THAT(p.err, Catch::Contains("not valid JSON"));
  std::ofstream(dir.path("ok.json"))
      << R"({"memstrat_trace":2,"buffers":1,"setup":[],"steps":[[["a",0,64,16,"temporary",-1,1],["f",0],["e"]]]})";
  p = run_cli("trace replay " + dir.path("ok.json") + " --alloc nosuch");
  CHECK(p.exit_code == 2);
  CHECK_THAT(p.err, Catch::Contains("nosuch"));
  p = run_cli("exec --alloc malloc --capture " + dir.path("no/such/dir/t.json") + " -- true");
  CHECK(p.exit_code != 0);
  CHECK(p.exit_code != 3);
  CHECK_THAT(p.err, Catch::Contains("trace file"));
}

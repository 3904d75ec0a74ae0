#include "benches/cli/supervise.h"
#include "benches/cli/trace_replay.h"

#include <fmt/core.h>
#include <dlfcn.h>
#include <malloc.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "benches/cli/capture.h"
#include "benches/cli/machine.h"
#include "benches/cli/measure.h"
#include "benches/cli/options.h"
#include "benches/cli/preflight.h"
#include "benches/cli/preload.h"
#include "benches/cli/record.h"
#include "benches/cli/trace.h"
#include "benches/cli/units.h"
#include "strategies/registry.h"

namespace memstrat::cli {

namespace {

// The last line a child wrote on stderr: its error.
std::string last_line(const std::string& path) {
  std::string said = read_child_file(path);
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  if (const auto line = said.rfind('\n'); line != std::string::npos) said = said.substr(line + 1);
  return said;
}

Trace read_trace(const std::string& path) {
  std::ifstream probe(path);
  if (!probe) throw std::invalid_argument("trace " + path + ": cannot be read");
  return trace_from_text(read_child_file(path), path);
}

int steps_in(const Trace& trace, int asked) { return trace.is_captured() ? int(trace.steps.size()) : asked; }

// Gives back to the OS what the allocator serving malloc holds free (the trace file's
// text and parse, gone before the replay begins), so that the RSS before setup is the
// process without them: glibc's malloc_trim, jemalloc's purge of every arena,
// mimalloc's collect, tcmalloc's release, whichever this process has.
void release_free_memory() {
  using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  using Collect = void (*)(bool);
  using Release = void (*)();
  if (auto mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl")))
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);  // 4096: MALLCTL_ARENAS_ALL
  else if (auto collect = reinterpret_cast<Collect>(dlsym(RTLD_DEFAULT, "mi_collect")))
    collect(true);
  else if (auto release = reinterpret_cast<Release>(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory")))
    release();
  else
    ::malloc_trim(0);
}

// The child: the trace through `spec`, setup, reset, steps, each step's peak.
nlohmann::json replay_here(const std::string& path, const std::string& spec, int asked_steps) {
  const auto started = std::chrono::steady_clock::now();
  std::size_t before_setup = 0;
  Trace trace = read_trace(path);
  release_free_memory();
  auto allocator = make_allocator(spec);
  const int steps = steps_in(trace, asked_steps);
  before_setup = read_process_memory().rss_bytes;
  std::vector<std::size_t> step_peaks;
  std::size_t after_setup = 0, peak = 0;
  {
    Replayer replay(trace, *allocator, ReplayMode{true, true});
    after_setup = read_process_memory().rss_bytes;
    for (int i = 0; i < steps; ++i) {
      reset_peak_rss();
      replay.step(i);
      step_peaks.push_back(read_process_memory().hwm_bytes);
      peak = std::max(peak, step_peaks.back());
    }
  }
  nlohmann::json figures = nlohmann::json::object();
  for (const auto& [key, value] : allocator->own_figures()) figures[key] = value;
  if (const auto reserved = allocator->reserved_bytes()) figures["reserved_bytes_at_end"] = *reserved;
  return {{"peak_rss_bytes", peak},
          {"rss_before_setup_bytes", before_setup},
          {"rss_after_setup_bytes", after_setup},
          {"rise_bytes", peak > after_setup ? peak - after_setup : 0},
          {"heap_bytes", peak > before_setup ? peak - before_setup : 0},
          {"step_peak_rss_bytes", step_peaks},
          {"steps", steps},
          {"strategy_figures", figures},
          {"alloc_calls", allocator->stats().alloc_calls},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
}

std::string mib(double bytes) { return fmt::format("{:.1f}", bytes / 1048576.0); }

}  // namespace

std::vector<std::string> default_replay_strategies() {
  std::vector<std::string> specs;
  for (const auto& entry : allocator_entries()) {
    const std::string name(entry.name);
    if (name == "preload") continue;  // it needs a library named
    if (!refused_in_this_build(name).empty() || (entry.process_wide && entry.library.empty())) continue;
    specs.push_back(name);
    if (name == "arena") specs.emplace_back("arena:separate");
  }
  return specs;
}

nlohmann::json replay_in_child(const std::string& path, const std::string& spec, int steps, const Limits& limits) {
  const WorkDir work("replay");
  const std::string out = work.path() + "/answer.json", err = work.path() + "/stderr.txt";
  const std::vector<std::string> argv = {self_exe(), "trace",   "replay-child",        path,    "--alloc",
                                         spec,       "--steps", std::to_string(steps), "--out", out};
  const Outcome outcome = supervise(argv, limits, "", err);
  if (outcome.status != RunStatus::ok) {
    const std::string said = last_line(err);
    return {{"status", to_string(outcome.status)},
            {"error",
             fmt::format("the replay ended {}{}{}", to_string(outcome.status),
                         outcome.reason.empty() ? "" : " (" + outcome.reason + ")", said.empty() ? "" : ": " + said)},
            {"seconds", outcome.wall_s}};
  }
  nlohmann::json answer = nlohmann::json::parse(read_child_file(out), nullptr, false);
  if (answer.is_discarded() || !answer.is_object())
    return {{"status", "crash"}, {"error", "the replay child wrote no answer"}, {"seconds", outcome.wall_s}};
  answer["status"] = "ok";
  return answer;
}

Command add_trace_replay(CLI::App& trace) {
  auto* c = trace.add_subcommand(
      "replay",
      "play a trace (a captured program's, from `memstrat exec --capture`, or `trace record`'s) through each "
      "strategy, each in a process of its own: the peak RSS each would have needed");
  auto path = std::make_shared<std::string>();
  auto allocs = std::make_shared<std::string>();
  auto steps = std::make_shared<int>(12);
  auto out = std::make_shared<std::string>();
  auto budget = std::make_shared<std::string>();
  auto timeout = std::make_shared<double>(1800);
  c->add_option("trace", *path, "the trace file")->required()->check(CLI::ExistingFile);
  c->add_option("--alloc", *allocs, "strategies, comma-separated (default: every one this build runs)");
  c->add_option("--steps", *steps, "steps to play of a `trace record` trace (a captured one plays all its own)")
      ->check(whole_number(1, 100000))
      ->capture_default_str();
  c->add_option("--json,--out", *out, "write the replays as JSON here")->check(writable_path("replay file"));
  c->add_option("--memory-budget", *budget, std::string("stop a replay above this (") + kSizeForms + ")")
      ->check(byte_size());
  c->add_option("--timeout", *timeout, "seconds a replay may take")->check(positive_number(1e6))->capture_default_str();
  return [=]() {
    Trace trace;
    try {
      trace = read_trace(*path);
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "memstrat: error: {}\n", e.what());
      return 2;
    }
    std::vector<std::string> specs;
    if (allocs->empty()) {
      specs = default_replay_strategies();
    } else {
      specs = split_list(*allocs);
      for (const std::string& spec : specs) {
        try {
          if (const std::string refused = refused_in_this_build(spec); !refused.empty()) throw SpecError(refused);
          // A process-wide one is checked by its library (the child preloads it); any other by building it.
          if (preload_library(spec).empty()) make_allocator(spec);
        } catch (const SpecError& e) {
          fmt::print(stderr, "memstrat: error: --alloc {}: {}\n", spec, e.what());
          return 2;
        }
      }
    }
    if (specs.empty()) {
      fmt::print(stderr, "memstrat: error: --alloc names no strategy\n");
      return 2;
    }
    Limits limits;
    if (!budget->empty()) limits.memory_bytes = parse_size(*budget);
    limits.timeout_s = *timeout;
    const TraceLive live = trace_live_bytes(trace);
    const nlohmann::json& captured = trace.captured;
    const bool has_run = captured.contains("run_peak_rss_bytes") && captured.contains("run_baseline_rss_bytes");
    const double run_rise =
        has_run ? captured["run_peak_rss_bytes"].get<double>() - captured["run_baseline_rss_bytes"].get<double>() : 0.0;
    const int steps_played = steps_in(trace, *steps);
    fmt::print(stderr, "replay: {} ({} setup events, {} step{}), through {} strateg{}\n", trace.description,
               trace.setup.size(), steps_played, steps_played == 1 ? "" : "s", specs.size(),
               specs.size() == 1 ? "y" : "ies");
    if (captured.contains("complete") && !captured["complete"].get<bool>())
      fmt::print(stderr, "replay: warning: the capture is incomplete ({}): its {} whole steps are played\n",
                 captured.value("incomplete_reason", std::string("?")), steps_played);
    install_interrupt_handler();
    nlohmann::json replays = nlohmann::json::array();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      fmt::print(stderr, "[{}/{}] {} ...", i + 1, specs.size(), specs[i]);
      nlohmann::json r = replay_in_child(*path, specs[i], *steps, limits);
      r["alloc"] = specs[i];
      if (r["status"] == "ok")
        fmt::print(stderr, " peak {} MiB, rise {} MiB, {:.1f} s\n", mib(r["peak_rss_bytes"].get<double>()),
                   mib(r["rise_bytes"].get<double>()), r.value("seconds", 0.0));
      else
        fmt::print(stderr, " {}\n", r.value("error", std::string()));
      if (r["status"] == "interrupted") return 130;
      replays.push_back(std::move(r));
    }
    fmt::print("\n{}: live bytes {} MiB at the first step, {} MiB at most in the steps\n", trace.description,
               mib(double(live.at_first_step)), mib(double(live.step_peak)));
    if (has_run)
      fmt::print("the captured run ({}): peak RSS {} MiB, {} MiB above its RSS at the first step\n",
                 captured.value("alloc", std::string("?")), mib(captured["run_peak_rss_bytes"].get<double>()),
                 mib(run_rise));
    fmt::print("{:<16} {:>8} {:>14} {:>12} {:>12} {:>16}\n", "strategy", "status", "heap peak MiB", "rise MiB",
               "rise / run", "heap / live peak");
    for (const auto& r : replays) {
      if (r["status"] != "ok") {
        fmt::print("{:<16} {:>8}  {}\n", r["alloc"].get<std::string>(), r["status"].get<std::string>(),
                   r.value("error", std::string()));
        continue;
      }
      const double rise = r["rise_bytes"].get<double>(), heap = r["heap_bytes"].get<double>();
      fmt::print("{:<16} {:>8} {:>14} {:>12} {:>12} {:>16}\n", r["alloc"].get<std::string>(), "ok", mib(heap),
                 mib(rise), has_run && run_rise > 0 ? fmt::format("{:.2f}", rise / run_rise) : "-",
                 live.step_peak > 0 ? fmt::format("{:.2f}", heap / double(live.step_peak)) : "-");
    }
    if (!out->empty()) {
      nlohmann::json doc = {{"memstrat_replay", 1},
                            {"trace", *path},
                            {"description", trace.description},
                            {"captured", captured},
                            {"live_bytes_at_first_step", live.at_first_step},
                            {"live_bytes_step_peak", live.step_peak},
                            {"steps", steps_played},
                            {"context", machine_context()},
                            {"replays", replays}};
      if (has_run) doc["run_rise_bytes"] = run_rise;
      write_file_atomically(*out, doc.dump(2) + "\n", "replay file");
      fmt::print("replays: {}\n", *out);
    }
    for (const auto& r : replays)
      if (r["status"] != "ok") return 3;
    return 0;
  };
}

Command add_trace_replay_child(CLI::App& trace) {
  auto* c = trace.add_subcommand("replay-child", "the child of `trace replay` (not for direct use)");
  c->group("");
  auto path = std::make_shared<std::string>();
  auto spec = std::make_shared<std::string>("malloc");
  auto steps = std::make_shared<int>(12);
  auto out = std::make_shared<std::string>();
  c->add_option("trace", *path)->required();
  c->add_option("--alloc", *spec);
  c->add_option("--steps", *steps);
  c->add_option("--out", *out)->required();
  return [=]() {
    ensure_preloaded(*spec);
    const nlohmann::json answer = replay_here(*path, *spec, *steps);
    std::ofstream(*out) << answer.dump() << '\n';  // read only when this process exits 0
    return 0;
  };
}

}  // namespace memstrat::cli

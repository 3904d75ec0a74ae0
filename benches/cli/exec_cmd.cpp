// `memstrat exec [options] -- CMD ARGS...`: the command line of exec.h.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "benches/cli/commands.h"
#include "benches/cli/exec.h"
#include "benches/cli/machine.h"
#include "benches/cli/options.h"
#include "benches/cli/preflight.h"
#include "benches/cli/preload.h"
#include "benches/cli/record.h"
#include "benches/cli/suite.h"
#include "benches/cli/units.h"
#include "strategies/registry.h"

namespace memstrat::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStepProtocol = R"(
Steps: a workload that writes one line per step boundary to the file descriptor
named by MEMSTRAT_STEP_FD ("begin I T\n" as step I begins, "end I T\n" as it
ends; I counts from 0, T is CLOCK_MONOTONIC in nanoseconds and may be left out)
gets step times, each step's peak RSS and the allocator's view at its highest
step. workloads/memstrat_steps.py does this for Python. Without marks: whole-
process figures only. Exit status: 0 every run ok, 3 some run was not (its
record says why), 2 bad input, 130 interrupted.)";

std::optional<std::vector<std::string>> command_after_dashes;

std::string mib(double bytes) { return fmt::format("{:.1f} MiB", bytes / 1048576.0); }

void print_summary(const std::vector<nlohmann::json>& all) {
  // The interval is the median's, at the level the repeats give (75% from 3).
  fmt::print("\n{:<40} {:>7} {:>12} {:>12} {:>30} {:>7}\n", "cell", "status", "peak RSS", "tree peak",
             "step ms [interval, level]", "frag");
  for (const auto& a : all) {
    if (a.value("run_type", "") != "aggregate") continue;
    std::string step = "-", frag = "-", peak = "-", tree = "-";
    if (a.contains("step_ms"))
      step = fmt::format("{:.1f} [{:.1f}, {:.1f}, {:.0f}%]", a["step_ms"].get<double>(), a.value("step_ms_ci_low", 0.0),
                         a.value("step_ms_ci_high", 0.0), 100 * a.value("step_ms_ci_level", 0.0));
    if (a.contains("fragmentation")) frag = fmt::format("{:.3f}", a["fragmentation"].get<double>());
    if (a.contains("peak_rss_bytes")) peak = mib(a["peak_rss_bytes"].get<double>());
    if (a.contains("tree_peak_rss_bytes")) tree = mib(a["tree_peak_rss_bytes"].get<double>());
    fmt::print("{:<40} {:>7} {:>12} {:>12} {:>30} {:>7}\n", a["run_name"].get<std::string>(), a.value("status", "?"),
               peak, tree, step, frag);
    if (a.value("status", "") != "ok") fmt::print("    {}\n", a.value("reason", ""));
  }
}

// The capture's cost, from the same interleaved rounds: the median step time of the
// captured runs over that of the same allocator's plain runs, and what was captured.
void print_capture(const std::vector<nlohmann::json>& records, const std::string& plain, const std::string& captured) {
  std::vector<double> with, without;
  const nlohmann::json* last = nullptr;
  for (const auto& r : records) {
    if (r.value("status", "") != "ok" || !r.contains("step_ms")) continue;
    if (r["run_name"] == plain) without.push_back(r["step_ms"].get<double>());
    if (r["run_name"] == captured) with.push_back(r["step_ms"].get<double>()), last = &r;
  }
  for (const auto& r : records)
    if (r["run_name"] == captured && r.contains("capture")) last = &r;
  if (last == nullptr) return;
  const nlohmann::json& c = (*last)["capture"];
  if (c.contains("error")) {
    fmt::print("capture: no trace: {}\n", c["error"].get<std::string>());
    return;
  }
  fmt::print("capture: {} calls in {} steps{}, trace {} ({})\n", c.value("records", 0), c.value("steps", 0),
             c.value("complete", false) ? "" : " (incomplete: " + c.value("incomplete_reason", std::string()) + ")",
             c.value("trace", std::string()), mib(c.value("trace_bytes", 0.0)));
  if (!with.empty() && !without.empty()) {
    std::sort(with.begin(), with.end());
    std::sort(without.begin(), without.end());
    const double a = with[with.size() / 2], b = without[without.size() / 2];
    fmt::print("capture slowdown: median step {:.1f} ms captured, {:.1f} ms not: {:.3f}x (medians of {} and {} runs)\n",
               a, b, a / b, with.size(), without.size());
  }
}

}  // namespace

void set_exec_command(std::vector<std::string> words) { command_after_dashes = std::move(words); }

Command add_exec(CLI::App& app) {
  auto* c = app.add_subcommand("exec",
                               "run any program under each process-wide allocator, each repeat its own "
                               "process: peak RSS, step time, fragmentation");
  // From "--" or the first word that is not an option on, the words are the command's.
  c->prefix_command();
  c->allow_extras();
  c->footer(kStepProtocol);
  auto allocs = std::make_shared<std::string>(kExecDefaultAllocs);
  auto repeats = std::make_shared<int>(3);
  auto budget = std::make_shared<std::string>();
  auto timeout = std::make_shared<double>(3600);
  auto warmup = std::make_shared<int>(1);
  auto batch = std::make_shared<int>(0);
  auto label = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto logs = std::make_shared<std::string>();
  c->add_option("--alloc", *allocs, "process-wide allocators, comma-separated; preload:PATH for any other library")
      ->capture_default_str();
  c->add_option("--repeats", *repeats, "runs per allocator, in interleaved rounds")
      ->check(whole_number(1, 100))
      ->capture_default_str();
  c->add_option("--memory-budget", *budget, std::string("budget per run, e.g. 2GiB (") + kSizeForms + ")")
      ->check(byte_size());
  c->add_option("--timeout", *timeout, "seconds a run may take before it is stopped")
      ->check(positive_number(1e6))
      ->capture_default_str();
  c->add_option("--warmup", *warmup, "marked steps left out of the step time (they count for memory)")
      ->check(whole_number(0, 1000000))
      ->capture_default_str();
  c->add_option("--batch", *batch, "samples per step, for samples/s (the command's own batch)")
      ->check(whole_number(1, 1u << 30));
  c->add_option("--label", *label, "names the workload in records (default: the program's or script's name)");
  c->add_option("--json,--out", *out, "results file (default: results/exec-LABEL-<host>-<date>.json)")
      ->check(writable_path("results file"));
  c->add_option("--logs", *logs, "keep each run's stdout and stderr in this folder")->check(CLI::ExistingDirectory);
  auto capture = std::make_shared<std::string>();
  auto capture_limit = std::make_shared<std::string>("4GiB");
  c->add_option("--capture", *capture,
                "also run the command under the first allocator with its malloc calls captured, once per round, "
                "and write them as a trace for `memstrat trace replay` (the last round's)")
      ->check(writable_path("trace file"));
  c->add_option("--capture-limit", *capture_limit,
                std::string("the capture stops at this many bytes of records (32 per call; ") + kSizeForms + ")")
      ->check(byte_size())
      ->capture_default_str();
  return [=]() {
    // After "--" (main.cpp splits it off), else from the first word that is not an option.
    const std::vector<std::string> command = command_after_dashes ? *command_after_dashes : c->remaining();
    if (command.empty()) {
      fmt::print(stderr,
                 "memstrat: error: no command to run: memstrat exec [options] -- CMD ARGS... (see: memstrat "
                 "exec --help)\n");
      return 2;
    }
    // Every allocator is checked before anything runs.
    const std::vector<std::string> specs = split_list(*allocs);
    for (const std::string& spec : specs) {
      try {
        exec_allocator_library(spec);
      } catch (const SpecError& e) {
        fmt::print(stderr, "memstrat: error: --alloc {}: {}\n", spec, e.what());
        return 2;
      }
    }
    if (specs.empty()) {
      fmt::print(stderr, "memstrat: error: --alloc names no allocator\n");
      return 2;
    }
    const std::string name = label->empty() ? exec_label(command) : *label;
    std::string path = *out;
    if (path.empty()) {
      fs::create_directories("results");
      const std::string stem = "results/exec-" + name + "-" + host_name() + "-" + today();
      path = stem + ".json";
      for (int n = 2; fs::exists(path); ++n) path = stem + "-" + std::to_string(n) + ".json";
    }
    check_output_path(path, "results file");
    Limits limits;
    if (!budget->empty()) limits.memory_bytes = parse_size(*budget);
    limits.timeout_s = *timeout;

    nlohmann::json context = machine_context();
    context["command_line"] = command_line_text();
    context["exec_command"] = command;
    context["repeats"] = *repeats;
    context["budget_enforcement"] = limits.memory_bytes ? budget_enforcement() : "none";
    std::vector<nlohmann::json> records;
    auto cell_for = [&](const std::string& spec) {
      ExecCell cell;
      cell.command = command, cell.alloc = spec, cell.label = name, cell.warmup = *warmup, cell.batch = *batch;
      return cell;
    };
    auto write = [&] { write_results_file(path, results_document(with_aggregates(records), context)); };

    // A command that cannot start is the same failure under every allocator: recorded once each.
    std::string program;
    try {
      program = resolve_program(command[0]);
    } catch (const std::exception& e) {
      for (const auto& spec : specs) {
        nlohmann::json r = exec_failure_record(cell_for(spec), RunStatus::crash, e.what());
        r["repetition_index"] = 0, r["repetitions"] = *repeats;
        records.push_back(r);
      }
      write();
      fmt::print(stderr, "memstrat: error: {} (records in {})\n", e.what(), path);
      return 2;
    }
    const std::string obstacle = preload_obstacle(program);
    if (!obstacle.empty())
      fmt::print(stderr, "memstrat: warning: {}: malloc runs without the probe, the other allocators are refused\n",
                 obstacle);

    const WorkDir work("exec");
    install_interrupt_handler();
    // The captured cell: the first allocator again, with the capture library in front.
    std::vector<ExecCell> cells;
    for (const auto& spec : specs) cells.push_back(cell_for(spec));
    if (!capture->empty()) {
      ExecCell captured = cell_for(specs.front());
      captured.label = name + "+capture";
      captured.capture = *capture;
      captured.capture_limit_bytes = parse_size(*capture_limit);
      cells.push_back(captured);
    }
    const std::size_t total = cells.size() * std::size_t(*repeats);
    std::size_t done = 0;
    bool failed = false;
    fmt::print(stderr, "exec: {} under {} allocator{}{}, {} repeat{} each, results in {}\n", name, specs.size(),
               specs.size() == 1 ? "" : "s", capture->empty() ? "" : " and captured under " + specs.front(), *repeats,
               *repeats == 1 ? "" : "s", path);
    for (int rep = 0; rep < *repeats; ++rep) {
      // Interleaved rounds, each starting one allocator further on, so drift over the
      // session falls on every allocator alike.
      for (std::size_t k = 0; k < cells.size(); ++k) {
        const ExecCell& cell = cells[(k + std::size_t(rep)) % cells.size()];
        fmt::print(stderr, "[{}/{}] {} #{} ...", ++done, total, exec_record_name(cell), rep + 1);
        nlohmann::json r = exec_once(cell, program, obstacle, limits, work.path(), rep == 0);
        r["repetition_index"] = rep;
        r["repetitions"] = *repeats;
        if (limits.memory_bytes) r["budget_bytes"] = *limits.memory_bytes;
        const std::string status = r["status"];
        if (status == "ok")
          fmt::print(stderr, " ok, peak {}{}, {:.1f} s\n", mib(r.value("peak_rss_bytes", 0.0)),
                     r.contains("step_ms") ? fmt::format(", step {:.1f} ms", r["step_ms"].get<double>()) : "",
                     r.value("wall_s", 0.0));
        else
          fmt::print(stderr, " {}: {}\n", status, r.value("reason", ""));
        if (!logs->empty()) {
          const std::string stem = fmt::format("{}/{}-{}-{}", *logs, name, cell.alloc, rep);
          std::error_code ignored;
          fs::copy_file(work.path() + "/stdout", stem + ".out", fs::copy_options::overwrite_existing, ignored);
          fs::copy_file(work.path() + "/stderr", stem + ".err", fs::copy_options::overwrite_existing, ignored);
        }
        const bool interrupted = status == to_string(RunStatus::interrupted);
        if (!interrupted) records.push_back(r);
        failed = failed || status != "ok";
        write();  // after every run: nothing already measured is lost
        if (interrupted) {
          fmt::print(stderr, "interrupted: {} holds the {} runs that finished\n", path, records.size());
          return 130;
        }
      }
    }
    print_summary(with_aggregates(records));
    if (!capture->empty()) print_capture(records, exec_record_name(cells.front()), exec_record_name(cells.back()));
    fmt::print("results: {}\n", path);
    return failed ? kExecRunFailedExit : 0;
  };
}

}  // namespace memstrat::cli

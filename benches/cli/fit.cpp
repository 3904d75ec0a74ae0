// `memstrat fit`: for each strategy, the largest batch that trains a few steps
// within a memory budget, and the fastest strategy that fits.
//
// The estimator's peak live bytes is a floor no run can go under, so the
// largest batch it allows is an upper bound: the search probes that batch
// first, and binary-searches below it only when it does not fit. Each probe is
// a supervised child run under the budget, as in a suite.
#include <fmt/core.h>

#include <ctime>
#include <filesystem>
#include <memory>

#include "benches/cli/commands.h"
#include "benches/cli/machine.h"
#include "benches/cli/preflight.h"
#include "benches/cli/preload.h"
#include "benches/cli/record.h"
#include "benches/cli/suite.h"
#include "benches/cli/supervise.h"
#include "benches/cli/units.h"
#include "strategies/registry.h"

namespace memstrat::cli {

namespace {

struct FitResult {
  std::string alloc, tech;
  int max_batch = 0;
  nlohmann::json record;  // the probe at max_batch
  int probes = 0;
  // The smallest batch tried that did not train, and why (oom, diverged, ...): 0 if none.
  int failed_batch = 0;
  std::string failed_status, failed_reason;
};

// Largest multiple of `step` up to `limit` whose predicted peak live bytes fit; 0 if none.
int estimator_bound(RunOptions o, int step, int limit, std::size_t budget) {
  auto fits = [&](int batch) {
    o.batch = batch;
    return estimate_for(o).peak_live_bytes <= budget;
  };
  if (!fits(step)) return 0;
  int lo = 1, hi = limit / step + 1;  // in micro-batch units: lo fits, hi does not (or is past the limit)
  while (hi - lo > 1) {
    const int mid = lo + (hi - lo) / 2;
    (fits(mid * step) ? lo : hi) = mid;
  }
  return lo * step;
}

FitResult fit_one(const RunOptions& base, const std::string& alloc, const std::string& tech, const SuiteConfig& probe,
                  int max_batch, const std::string& work_dir) {
  FitResult r;
  r.alloc = alloc, r.tech = tech;
  RunOptions o = base;
  o.alloc = alloc, o.tech = tech;
  const int step = make_techniques(tech).accum;
  const int bound = estimator_bound(o, step, max_batch, *probe.budget_bytes);
  auto try_batch = [&](int batch) {
    o.batch = batch;
    o.samples = std::uint64_t(batch) * std::uint64_t(probe.steps + probe.warmup);
    RunStatus status = RunStatus::crash;
    nlohmann::json record = run_one({record_name(o), o}, probe, 0, work_dir, &status);
    ++r.probes;
    if (status == RunStatus::interrupted) throw std::runtime_error("interrupted");
    if (status == RunStatus::ok) {
      r.max_batch = batch, r.record = record;
    } else if (r.failed_batch == 0 || batch < r.failed_batch) {
      r.failed_batch = batch, r.failed_status = to_string(status), r.failed_reason = record.value("reason", "");
    }
    return status == RunStatus::ok;
  };
  if (bound == 0 || try_batch(bound)) return r;
  // lo fits (0: nothing yet), hi does not; stop at 10% resolution, which is what a user picks a batch by.
  int lo = 0, hi = bound;
  while (hi - lo > step && !(lo > 0 && hi - lo <= lo / 10)) {
    const int mid = std::max(step, (lo + (hi - lo) / 2) / step * step);
    if (mid <= lo || mid >= hi) break;
    (try_batch(mid) ? lo : hi) = mid;
  }
  return r;
}

}  // namespace

Command add_fit(CLI::App& app) {
  auto* c = app.add_subcommand("fit", "find, per strategy, the largest batch that trains within a memory budget");
  auto options = std::make_shared<RunOptions>();
  add_config_options(*c, *options);
  c->remove_option(c->get_option("--batch"));
  c->remove_option(c->get_option("--tech"));
  auto budget = std::make_shared<std::string>();
  auto allocs = std::make_shared<std::vector<std::string>>();
  auto techs = std::make_shared<std::vector<std::string>>();
  auto steps = std::make_shared<int>(2);
  auto max_batch = std::make_shared<int>(4096);
  auto out = std::make_shared<std::string>();
  c->add_option("--budget", *budget, std::string("memory budget, e.g. 1GiB or 512MiB (") + kSizeForms + ")")
      ->required()
      ->check(byte_size());
  c->add_option("--allocs", *allocs,
                "allocators to try (default: malloc jemalloc mimalloc tcmalloc arena pool mmap planned, each "
                "without techniques, and malloc with each technique)");
  c->add_option("--techs", *techs, "technique sets to try with every allocator given, e.g. none bf16 bf16,recompute");
  c->add_option("--steps", *steps, "steps a batch must train within the budget")
      ->check(whole_number(1, 100))
      ->capture_default_str();
  c->add_option("--max-batch", *max_batch, "largest batch to consider")
      ->check(whole_number(1, 1 << 20))
      ->capture_default_str();
  c->add_option("--out", *out, "results file (default: results/fit-<host>-<date>.json)")
      ->check(writable_path("results file"));
  return [=]() {
    SuiteConfig probe;
    probe.budget_bytes = parse_size(*budget);
    probe.steps = *steps;
    probe.warmup = 1;
    probe.timeout_s = 1800;
    probe.repeats = 1;
    RunOptions base = *options;
    build_model(model_spec(base));  // a bad model is refused before anything runs
    std::vector<std::pair<std::string, std::string>> combos;
    if (allocs->empty() && techs->empty()) {
      for (const char* a : {"malloc", "jemalloc", "mimalloc", "tcmalloc", "arena", "pool", "mmap", "planned"})
        if (refused_in_this_build(a).empty()) combos.emplace_back(a, "none");  // sanitizers refuse preloading
      // accum:4 needs 4 samples to split: under a smaller --max-batch it is left out, not an error.
      for (const char* t : {"bf16", "recompute", "accum:4", "bf16,recompute"})
        if (make_techniques(t).accum <= *max_batch) combos.emplace_back("malloc", t);
    } else {
      for (const auto& a : allocs->empty() ? std::vector<std::string>{"malloc"} : *allocs)
        for (const auto& t : techs->empty() ? std::vector<std::string>{"none"} : *techs) combos.emplace_back(a, t);
    }
    for (const auto& [a, t] : combos) {
      if (preload_library(a).empty()) make_allocator(a);
      if (const int accum = make_techniques(t).accum; accum > *max_batch)
        throw std::invalid_argument(
            fmt::format("{} needs a batch of at least {}, more than --max-batch {}", t, accum, *max_batch));
    }
    // A budget under what the model holds before any step is a mistake, not a finding.
    if (const std::size_t state = model_state_bytes(base); state > *probe.budget_bytes)
      throw std::invalid_argument(fmt::format(
          "--budget {} ({}) is smaller than what {} holds before its first step at any batch ({}: parameters, "
          "gradients, optimizer state; estimator): nothing can train within it",
          *budget, format_bytes(double(*probe.budget_bytes)), base.model, format_bytes(double(state))));
    std::string path = *out;
    if (path.empty()) {
      std::filesystem::create_directories("results");
      char date[32];
      const std::time_t now = std::time(nullptr);
      std::strftime(date, sizeof date, "%Y-%m-%d", std::localtime(&now));
      path = "results/fit-" + host_name() + "-" + date + ".json";
    }
    check_output_path(path, "results file");  // before the first probe, not after the last
    const Model model = build_model(model_spec(base));
    fmt::print("largest batch within {} ({}) for {} ({}x{}x{}), {} steps per probe, budget enforced by {}\n", *budget,
               format_bytes(double(*probe.budget_bytes)), base.model, model.input.c, model.input.h, model.input.w,
               *steps, budget_enforcement());
    const WorkDir work("fit");  // removed however the search ends
    install_interrupt_handler();
    std::vector<FitResult> results;
    fmt::print("{:<28} {:>8} {:>10} {:>10} {:>11} {:>7}\n", "strategy", "batch", "step ms", "samples/s", "peak RSS",
               "probes");
    for (const auto& [a, t] : combos) {
      FitResult r = fit_one(base, a, t, probe, *max_batch, work.path());
      const std::string label = t == "none" ? a : fmt::format("{} + {}", a, t);
      if (r.max_batch == 0)
        fmt::print("{:<28} {:>8} {:>10} {:>10} {:>11} {:>7}\n", label, "-", "-", "-", "-", r.probes);
      else
        fmt::print("{:<28} {:>8} {:>10.1f} {:>10.1f} {:>7.0f} MiB {:>7}\n", label, r.max_batch,
                   r.record["step_ms"].get<double>(), r.record["samples_per_s"].get<double>(),
                   r.record["peak_rss_bytes"].get<double>() / 1048576.0, r.probes);
      std::fflush(stdout);
      results.push_back(std::move(r));
    }

    nlohmann::json fit = {{"budget_bytes", *probe.budget_bytes},
                          {"model", base.model},
                          {"image", model.input.h},
                          {"steps", *steps},
                          {"results", nlohmann::json::array()}};
    std::vector<nlohmann::json> records;
    const FitResult* fastest = nullptr;
    for (const auto& r : results) {
      nlohmann::json entry = {{"alloc", r.alloc}, {"tech", r.tech}, {"max_batch", r.max_batch}, {"probes", r.probes}};
      if (r.failed_batch > 0)
        entry["failed"] = {{"batch", r.failed_batch}, {"status", r.failed_status}, {"reason", r.failed_reason}};
      if (r.max_batch > 0) {
        entry["step_ms"] = r.record["step_ms"];
        entry["samples_per_s"] = r.record["samples_per_s"];
        entry["peak_rss_bytes"] = r.record["peak_rss_bytes"];
        records.push_back(r.record);
        if (!fastest || r.record["samples_per_s"].get<double>() > fastest->record["samples_per_s"].get<double>())
          fastest = &r;
      }
      fit["results"].push_back(entry);
    }
    if (fastest) {
      fit["fastest"] = {{"alloc", fastest->alloc},
                        {"tech", fastest->tech},
                        {"max_batch", fastest->max_batch},
                        {"step_ms", fastest->record["step_ms"]},
                        {"samples_per_s", fastest->record["samples_per_s"]}};
      fmt::print("fastest that fits: {}{} at batch {}, {:.1f} samples/s\n", fastest->alloc,
                 fastest->tech == "none" ? std::string() : fmt::format(" + {}", fastest->tech), fastest->max_batch,
                 fastest->record["samples_per_s"].get<double>());
    } else {
      fmt::print("nothing fits: not even batch 1 trains within {}\n", *budget);
    }
    nlohmann::json context = machine_context();
    context["command_line"] = command_line_text();
    nlohmann::json document = results_document(records, context);
    document["fit"] = fit;
    write_results_file(path, document);
    fmt::print("results in {}\n", path);
    return 0;
  };
}

}  // namespace memstrat::cli

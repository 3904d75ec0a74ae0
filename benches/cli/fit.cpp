// `memstrat fit`: for each strategy, the largest batch that trains a few steps
// within a memory budget, proved by two runs, and the fastest strategy that fits.
//
// Three passes per strategy. (1) The estimator's peak live bytes are a floor no run
// goes under, so the largest batch they allow bounds the search from above. (2) Below
// that, peak RSS predicted by replay (predict.h; seconds each) brackets the largest
// batch whose prediction is within the budget. (3) Real runs under the budget confirm
// it: the batch reported trained ok, and the next batch tried above it did not (oom
// under the budget, or refused by the estimator with its figure). When a run disagrees
// with the prediction, the runs walk from there (strides 1, 2, 4, ...), then bisect to
// the batch or to 10% of it.
#include <fmt/core.h>

#include <ctime>
#include <filesystem>
#include <map>
#include <memory>

#include "benches/cli/commands.h"
#include "benches/cli/machine.h"
#include "benches/cli/predict.h"
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
  int ranks = 1;  // under --ranks or --max-ranks: the ranks it was fitted over
  // Under --max-ranks: why one rank fewer did not train (batch, status, reason); null at the first tried.
  nlohmann::json fewer_ranks;
  int max_batch = 0;
  nlohmann::json record;                           // the run at max_batch
  int predicted_batch = 0;                         // the largest batch whose predicted peak RSS is within the budget
  bool predicted = false;                          // whether every prediction gave an answer
  nlohmann::json tries = nlohmann::json::array();  // every prediction and run, in order
  std::vector<nlohmann::json> runs;                // every run's record
  int runs_made = 0;
  // The next batch tried above max_batch, and why it does not fit (oom, refused, ...);
  // 0 when max_batch is --max-batch and there is nothing above to try.
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
  r.alloc = alloc, r.tech = tech, r.ranks = base.ranks;
  RunOptions o = base;
  o.alloc = alloc, o.tech = tech;
  const std::size_t budget = *probe.budget_bytes;
  // Batches are searched in micro-batch units: batch = units * step, every rank's
  // slice a whole number of micro-batches.
  const int step = make_techniques(tech).accum * o.ranks;
  const int bound = estimator_bound(o, step, max_batch, budget) / step;
  auto at = [&](int units) {
    RunOptions b = o;
    b.batch = units * step;
    b.steps = probe.steps;
    b.samples = std::uint64_t(b.batch) * std::uint64_t(probe.steps + probe.warmup);
    return b;
  };
  std::map<int, std::pair<std::string, std::string>> outcome;  // units -> status, reason of what decided it
  auto refused = [&](int units) {
    const std::string why = fmt::format("predicted peak live {} exceeds the budget (estimator; not run)",
                                        format_bytes(double(estimate_for(at(units)).peak_live_bytes)));
    r.tries.push_back({{"batch", units * step}, {"kind", "estimate"}, {"status", "refused"}, {"reason", why}});
    outcome[units] = {"refused", why};
  };

  // (2) Bracket by prediction: lo's prediction is within the budget (0: none is), hi's is not.
  int lo = 0, hi = bound + 1;
  r.predicted = bound > 0;
  auto predicted_fits = [&](int units, std::optional<RssPrediction>* keep = nullptr) {
    Limits limits;
    limits.memory_bytes = budget + budget / 4;  // a figure for batches near the budget, a stop above
    limits.timeout_s = probe.timeout_s;
    const RssPrediction p = predict_peak_rss(at(units), probe.warmup + probe.steps, limits);
    // VmHWM against the budget, which bounds the cgroup's charge: not the same count (the
    // libraries' pages are charged elsewhere, the dataset file's page cache to the run),
    // close enough to bracket; the runs decide.
    const bool fits = p.peak_rss_bytes && *p.peak_rss_bytes <= budget;
    if (keep != nullptr) *keep = p;
    nlohmann::json t = {{"batch", units * step},
                        {"kind", "prediction"},
                        {"status", fits                                  ? "fits"
                                   : (p.peak_rss_bytes || p.over_budget) ? "over"
                                                                         : "failed"},
                        {"seconds", p.seconds}};
    if (p.peak_rss_bytes) t["predicted_peak_rss_bytes"] = *p.peak_rss_bytes;
    if (!p.error.empty()) t["reason"] = p.error;
    r.tries.push_back(t);
    fmt::print(stderr, "  batch {}: {}\n", units * step,
               p.peak_rss_bytes ? fmt::format("predicted {} ({})", format_bytes(double(*p.peak_rss_bytes)),
                                              t["status"].get<std::string>())
                                : p.error);
    if (!p.peak_rss_bytes && !p.over_budget) {
      r.predicted = false;  // the runs alone decide, from the estimator's bound down
      fmt::print(stderr, "fit: {}{}: no prediction at batch {} ({}); searching by runs alone\n", alloc,
                 tech == "none" ? "" : " + " + tech, units * step, p.error);
    }
    return fits;
  };
  // Peak RSS grows about linearly with the batch: after the bound's prediction, the next
  // guess is where the line from setup's RSS through it meets the budget, then bisection.
  std::optional<RssPrediction> at_bound;
  if (r.predicted) {
    if (predicted_fits(bound, &at_bound)) {
      lo = bound;
    } else {
      hi = bound;
      if (at_bound && at_bound->peak_rss_bytes && *at_bound->peak_rss_bytes > at_bound->baseline_rss_bytes &&
          budget > at_bound->baseline_rss_bytes) {
        const double per_unit = double(*at_bound->peak_rss_bytes - at_bound->baseline_rss_bytes) / bound;
        const int guess = int(double(budget - at_bound->baseline_rss_bytes) / per_unit);
        if (guess > lo && guess < hi) (predicted_fits(guess) ? lo : hi) = guess;
        // Its neighbours next: the line is seldom off by more than a few units.
        if (r.predicted && lo == guess && lo + 1 < hi) (predicted_fits(lo + 1) ? lo : hi) = lo + 1;
        if (r.predicted && hi == guess && hi - 1 > lo) (predicted_fits(hi - 1) ? lo : hi) = hi - 1;
      }
      while (r.predicted && hi - lo > 1) {
        const int mid = lo + (hi - lo) / 2;
        (predicted_fits(mid) ? lo : hi) = mid;
      }
    }
  }
  if (r.predicted) r.predicted_batch = lo * step;

  // (3) Confirm by runs: ok is the largest batch that trained, fail the smallest above it that did not.
  auto trains = [&](int units) {
    RunStatus status = RunStatus::crash;
    const RunOptions b = at(units);
    nlohmann::json record = run_one({record_name(b), b, std::nullopt}, probe, 0, work_dir, &status);
    ++r.runs_made;
    if (status == RunStatus::interrupted) throw std::runtime_error("interrupted");
    nlohmann::json t = {{"batch", units * step}, {"kind", "run"}, {"status", to_string(status)}};
    if (record.contains("reason")) t["reason"] = record["reason"];
    if (record.contains("peak_rss_bytes")) t["peak_rss_bytes"] = record["peak_rss_bytes"];
    r.tries.push_back(t);
    fmt::print(stderr, "  batch {}: run {}{}\n", units * step, to_string(status),
               status == RunStatus::ok
                   ? fmt::format(", peak RSS {}", format_bytes(record["peak_rss_bytes"].get<double>()))
                   : " (" + record.value("reason", "") + ")");
    outcome[units] = {to_string(status), record.value("reason", "")};
    if (status == RunStatus::ok && units * step > r.max_batch) r.max_batch = units * step, r.record = record;
    r.runs.push_back(std::move(record));
    return status == RunStatus::ok;
  };
  int ok = 0, fail = 0;
  if (bound == 0) {
    refused(1);
    fail = 1;
  } else {
    const int first = r.predicted ? std::max(1, lo) : bound;
    (trains(first) ? ok : fail) = first;
  }
  // Up from a batch that trained, the stride doubling, until one does not.
  for (int stride = 1; ok > 0 && fail == 0; stride *= 2) {
    const int next = ok + stride;
    if (next * step > max_batch) break;  // --max-batch trained: nothing above it to try
    if (next > bound) {
      refused(next);
      fail = next;
    } else {
      (trains(next) ? ok : fail) = next;
    }
  }
  // Down from a batch that did not, the same way: the prediction is seldom far off.
  for (int stride = 1; ok == 0 && fail - stride >= 1; stride *= 2) {
    const int next = fail - stride;
    (trains(next) ? ok : fail) = next;
  }
  // Then between the two: to the batch, or to 10% of it, which is what a user picks a batch by.
  while (fail - ok > 1 && !(ok > 0 && 10 * (fail - ok) <= ok)) {
    const int mid = ok + (fail - ok) / 2;
    (trains(mid) ? ok : fail) = mid;
  }
  r.max_batch = ok * step;
  if (o.ranks > 1)
    for (auto& t : r.tries) t["ranks"] = o.ranks;
  if (fail > 0) {
    r.failed_batch = fail * step;
    std::tie(r.failed_status, r.failed_reason) = outcome[fail];
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
  auto steps = std::make_shared<int>(1);
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
  auto max_ranks = std::make_shared<int>(0);
  c->add_option("--max-ranks", *max_ranks,
                "find, per strategy, the fewest ranks from --ranks up to this many that train (for a model "
                "that does not fit one rank's budget); the budget is each rank's")
      ->check(whole_number(2, 1024));
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
    if (*max_ranks > 0 && *max_ranks < base.ranks)
      throw std::invalid_argument(fmt::format("--max-ranks {} is fewer than --ranks {}", *max_ranks, base.ranks));
    const int most_ranks = std::max(base.ranks, *max_ranks);
    std::vector<std::pair<std::string, std::string>> combos;
    if (allocs->empty() && techs->empty() && most_ranks > 1) {
      // Over ranks: plain data parallelism and each ZeRO stage, under glibc.
      for (const char* t : {"dp", "zero:1", "zero:2", "zero:3"}) combos.emplace_back("malloc", t);
    } else if (allocs->empty() && techs->empty()) {
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
      if (const int least = make_techniques(t).accum * base.ranks; least > *max_batch)
        throw std::invalid_argument(fmt::format("{} needs a batch of at least {}{}, more than --max-batch {}", t, least,
                                                base.ranks > 1 ? fmt::format(" over {} ranks", base.ranks) : "",
                                                *max_batch));
    }
    // A budget under what the model holds before any step is a mistake, not a finding:
    // over ranks, under the most sharded stage at the most ranks allowed.
    RunOptions leanest = base;
    leanest.ranks = most_ranks;
    if (const std::size_t state = model_state_bytes(leanest); state > *probe.budget_bytes)
      throw std::invalid_argument(fmt::format(
          "--budget {} ({}) is smaller than what {} holds before its first step at any batch ({}: parameters, "
          "gradients, optimizer state{}; estimator): nothing can train within it",
          *budget, format_bytes(double(*probe.budget_bytes)), base.model, format_bytes(double(state)),
          most_ranks > 1 ? fmt::format(", a rank's share under zero:3 over {} ranks", most_ranks) : ""));
    std::string path = *out;
    if (path.empty()) {
      std::filesystem::create_directories("results");
      path = "results/fit-" + host_name() + "-" + today() + ".json";
    }
    check_output_path(path, "results file");  // before the first probe, not after the last
    const Model model = build_model(model_spec(base));
    fmt::print("largest {}batch within {} ({}){} for {} ({}x{}x{}), {} steps per probe, budget enforced by {}\n",
               most_ranks > 1 ? "global " : "", *budget, format_bytes(double(*probe.budget_bytes)),
               most_ranks > 1 ? " a rank" : "", base.model, model.input.c, model.input.h, model.input.w, *steps,
               budget_enforcement());
    const WorkDir work("fit");  // removed however the search ends
    install_interrupt_handler();
    std::vector<FitResult> results;
    const std::string head = fmt::format("{:<26} {:>6} {:>9} {:>22} {:>9} {:>9} {:>9} {:>5}", "strategy", "batch",
                                         "predicted", "next above", "step ms", "samples/s", "peak MiB", "runs");
    fmt::print("{}\n", head);
    std::fflush(stdout);
    for (const auto& [a, t] : combos) {
      std::string label = t == "none" ? a : fmt::format("{} + {}", a, t);
      fmt::print(stderr, "fit: {} ...\n", label);
      FitResult r = fit_one(base, a, t, probe, *max_batch, work.path());
      // Under --max-ranks: one more rank at a time until one trains.
      for (RunOptions more = base; r.max_batch == 0 && more.ranks < *max_ranks;) {
        nlohmann::json fewer = {
            {"ranks", more.ranks}, {"batch", r.failed_batch}, {"status", r.failed_status}, {"reason", r.failed_reason}};
        ++more.ranks;
        if (make_techniques(t).accum * more.ranks > *max_batch) break;
        fmt::print(stderr, "fit: {} over {} ranks ...\n", label, more.ranks);
        FitResult earlier = std::move(r);
        r = fit_one(more, a, t, probe, *max_batch, work.path());
        // The answer keeps every try and run of the search, the fewer ranks' first.
        r.fewer_ranks = fewer;
        r.runs_made += earlier.runs_made;
        r.tries.insert(r.tries.begin(), earlier.tries.begin(), earlier.tries.end());
        r.runs.insert(r.runs.begin(), earlier.runs.begin(), earlier.runs.end());
      }
      if (most_ranks > 1) label += fmt::format(" ({} rank{})", r.ranks, r.ranks == 1 ? "" : "s");
      const std::string predicted = r.predicted ? std::to_string(r.predicted_batch) : "-";
      const std::string above =
          r.failed_batch > 0 ? fmt::format("{} {}", r.failed_batch, r.failed_status) : "(--max-batch)";
      if (r.max_batch == 0)
        fmt::print("{:<26} {:>6} {:>9} {:>22} {:>9} {:>9} {:>9} {:>5}\n", label, "-", predicted, above, "-", "-", "-",
                   r.runs_made);
      else
        fmt::print("{:<26} {:>6} {:>9} {:>22} {:>9.1f} {:>9.1f} {:>9.1f} {:>5}\n", label, r.max_batch, predicted, above,
                   r.record["step_ms"].get<double>(), r.record["samples_per_s"].get<double>(),
                   r.record["peak_rss_bytes"].get<double>() / 1048576.0, r.runs_made);
      std::fflush(stdout);
      results.push_back(std::move(r));
    }

    nlohmann::json fit = {{"budget_bytes", *probe.budget_bytes},
                          {"model", base.model},
                          {"image", model.input.h},
                          {"steps", *steps},
                          {"results", nlohmann::json::array()}};
    if (most_ranks > 1) fit["ranks"] = base.ranks, fit["budget_per_rank"] = true;
    if (*max_ranks > 0) fit["max_ranks"] = *max_ranks;
    std::vector<nlohmann::json> records;  // every run of the search, the confirmations among them
    const FitResult* fastest = nullptr;
    for (const auto& r : results) {
      nlohmann::json entry = {{"alloc", r.alloc},    {"tech", r.tech},   {"max_batch", r.max_batch},
                              {"runs", r.runs_made}, {"tries", r.tries}, {"confirmed", r.failed_batch > 0}};
      if (r.predicted) entry["predicted_batch"] = r.predicted_batch;
      if (most_ranks > 1) entry["ranks"] = r.ranks;
      if (!r.fewer_ranks.is_null()) entry["fewer_ranks"] = r.fewer_ranks;
      if (r.failed_batch > 0)
        entry["failed"] = {{"batch", r.failed_batch}, {"status", r.failed_status}, {"reason", r.failed_reason}};
      if (r.max_batch > 0) {
        entry["step_ms"] = r.record["step_ms"];
        entry["samples_per_s"] = r.record["samples_per_s"];
        entry["peak_rss_bytes"] = r.record["peak_rss_bytes"];
        if (!fastest || r.record["samples_per_s"].get<double>() > fastest->record["samples_per_s"].get<double>())
          fastest = &r;
      }
      records.insert(records.end(), r.runs.begin(), r.runs.end());
      fit["results"].push_back(entry);
    }
    if (fastest) {
      fit["fastest"] = {{"alloc", fastest->alloc},
                        {"tech", fastest->tech},
                        {"max_batch", fastest->max_batch},
                        {"step_ms", fastest->record["step_ms"]},
                        {"samples_per_s", fastest->record["samples_per_s"]}};
      if (most_ranks > 1) fit["fastest"]["ranks"] = fastest->ranks;
      fmt::print("fastest that fits: {}{} at batch {}{}, {:.1f} samples/s\n", fastest->alloc,
                 fastest->tech == "none" ? std::string() : fmt::format(" + {}", fastest->tech), fastest->max_batch,
                 most_ranks > 1 ? fmt::format(" over {} ranks", fastest->ranks) : "",
                 fastest->record["samples_per_s"].get<double>());
    } else {
      fmt::print("nothing fits: not even batch 1 trains within {}\n", *budget);
    }
    fmt::print(
        "batch: the largest that trained {} steps under the budget; next above: the next batch tried, "
        "which did not (oom under the budget, or refused by the estimator); predicted: the largest whose "
        "replayed peak RSS is within the budget\n",
        *steps);
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

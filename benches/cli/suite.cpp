// `memstrat suite`: every cell of a matrix, each repeat in a fresh child process
// (process-wide allocators preloaded into it), under the budget and time limit,
// with the results file rewritten atomically after every run: an interrupted or
// crashed suite loses nothing, and --resume skips what is done.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>

#include "benches/cli/commands.h"
#include "benches/cli/machine.h"
#include "benches/cli/preflight.h"
#include "benches/cli/predict.h"
#include "benches/cli/preload.h"
#include "benches/cli/record.h"
#include "benches/cli/schema.h"
#include "benches/cli/suite.h"
#include "benches/cli/exec.h"
#include "benches/cli/supervise.h"
#include "benches/cli/units.h"

namespace memstrat::cli {

namespace fs = std::filesystem;

namespace {

bool superseded(const nlohmann::json& r) { return r.value("superseded", false); }

void add_step_figures(nlohmann::json& a, const std::vector<const nlohmann::json*>& ok, int reruns);

// The median of a numeric figure over the ok repeats, for every figure they all have.
nlohmann::json aggregate(const std::string& cell, const std::vector<const nlohmann::json*>& runs) {
  std::vector<const nlohmann::json*> repeats;
  int reruns = 0;
  for (const auto* r : runs) {
    if (superseded(*r))
      ++reruns;
    else
      repeats.push_back(r);
  }
  nlohmann::json a;
  a["name"] = cell + "_median";
  a["run_name"] = cell;
  a["run_type"] = "aggregate";
  a["aggregate_name"] = "median";
  a["repetitions"] = repeats.size();
  a["reruns"] = reruns;
  a["config"] = (*runs.front())["config"];
  if (repeats.empty()) return a;  // not reachable: a superseded run always has its replacement
  std::vector<const nlohmann::json*> ok;
  for (const auto* r : repeats)
    if ((*r)["status"] == "ok") ok.push_back(r);
  if (ok.size() != repeats.size()) {
    // One failed repeat makes the cell fail: a strategy that fits only sometimes does not fit.
    for (const auto* r : repeats)
      if ((*r)["status"] != "ok") {
        a["status"] = (*r)["status"];
        a["reason"] = r->value("reason", "");
        a["error_occurred"] = true;
        a["error_message"] = a["reason"];
        break;
      }
    for (const char* key : {"predicted_peak_rss_bytes", "predicted_rss_note", "prediction_seconds"})
      if (repeats.front()->contains(key)) a[key] = (*repeats.front())[key];  // what was foreseen, beside the failure
    return a;
  }
  a["status"] = "ok";
  // Each figure as the schema says: the median over the repeats, or the first repeat's.
  for (const auto& [key, value] : ok.front()->items()) {
    const KeySpec* spec = record_key(key);
    if (spec == nullptr) continue;
    if (spec->aggregate == "first") {
      a[key] = value;
      continue;
    }
    if (spec->aggregate != "median" || !value.is_number()) continue;
    std::vector<double> values;
    for (const auto* r : ok)
      if (r->contains(key) && (*r)[key].is_number()) values.push_back((*r)[key].get<double>());
    if (values.size() != ok.size()) continue;
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    // A whole-number figure takes the lower middle value: the mean of two would not be one.
    if (spec->type == "integer")
      a[key] = (long long)(values[(n - 1) / 2]);
    else
      a[key] = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  }
  // A command that marks no steps (exec) has whole-process figures only.
  const bool timed = std::all_of(ok.begin(), ok.end(), [](const nlohmann::json* r) {
    return r->contains("step_ms") && r->contains("step_times_ms") && !(*r)["step_times_ms"].empty();
  });
  if (timed) add_step_figures(a, ok, reruns);
  if (a.contains("predicted_peak_rss_bytes") && a.contains("peak_rss_bytes") && a["peak_rss_bytes"].get<double>() > 0)
    a["prediction_error"] = (a["predicted_peak_rss_bytes"].get<double>() - a["peak_rss_bytes"].get<double>()) /
                            a["peak_rss_bytes"].get<double>();
  return a;
}

// The cell's time is the median of its repeats' medians: the repeats, each its own
// process, are the independent measurements; its interval comes from them alone.
void add_step_figures(nlohmann::json& a, const std::vector<const nlohmann::json*>& ok, int reruns) {
  std::vector<double> steps, per_repeat;
  int disturbed = 0;
  std::string disturbed_why;
  for (const auto* r : ok) {
    per_repeat.push_back((*r)["step_ms"].get<double>());
    for (const auto& t : (*r)["step_times_ms"]) steps.push_back(t.get<double>());
    if (r->value("disturbed", false) && disturbed++ == 0) disturbed_why = r->value("disturbed_reason", "");
  }
  std::sort(steps.begin(), steps.end());
  a["step_ms_repeats"] = per_repeat;
  const MedianInterval interval = median_interval(per_repeat);
  a["step_ms_ci_low"] = interval.low;
  a["step_ms_ci_high"] = interval.high;
  a["step_ms_ci_level"] = interval.level;
  // Derived figures follow from the medians, not the median of each repeat's ratio.
  if (a["config"].contains("batch"))
    a["samples_per_s"] = a["config"]["batch"].get<double>() / (a["step_ms"].get<double>() / 1e3);
  a["step_ms_p10"] = steps[std::size_t(0.1 * double(steps.size() - 1))];
  a["step_ms_p90"] = steps[std::size_t(std::ceil(0.9 * double(steps.size() - 1)))];
  if (ok.front()->contains("losses")) a["losses"] = (*ok.front())["losses"];
  a["disturbed_repeats"] = disturbed;
  const auto [fastest, slowest] = std::minmax_element(per_repeat.begin(), per_repeat.end());
  std::string unstable;
  if (disturbed > 0)
    unstable = fmt::format("{} of {} repeats stayed disturbed after {} re-run{} (first: {})", disturbed, ok.size(),
                           reruns, reruns == 1 ? "" : "s", disturbed_why);
  else if (*fastest > 0.0 && *slowest > kMaxRepeatSpread * *fastest)
    unstable = fmt::format(
        "the repeats disagree: their medians run from {:.1f} to {:.1f} ms ({:.2f} x, above {:.2f} x) "
        "with no disturbance measured",
        *fastest, *slowest, *slowest / *fastest, kMaxRepeatSpread);
  a["unstable"] = !unstable.empty();
  if (!unstable.empty()) a["unstable_reason"] = unstable;
}

// One line on the terminal, redrawn: runs done of those planned, re-runs taken,
// cells flagged unstable so far, and the time left at the pace so far.
class Progress {
 public:
  Progress(std::size_t total, bool verbose) : total_(total), tty_(::isatty(STDERR_FILENO)), verbose_(verbose) {
    start_ = std::chrono::steady_clock::now();
  }
  void add_rerun() { ++total_, ++reruns_; }
  void begin(const std::string& label, int unstable) {
    if (!tty_) return;
    const double elapsed = seconds();
    std::string eta = "--";
    if (done_ > 0) {
      const double left = elapsed / double(done_) * double(total_ - done_);
      eta = fmt::format("{}m{:02}s", int(left) / 60, int(left) % 60);
    }
    const int width = 20, filled = int(double(width) * double(done_) / double(std::max<std::size_t>(total_, 1)));
    std::string extra;
    if (reruns_ > 0) extra += fmt::format(", {} re-run{}", reruns_, reruns_ == 1 ? "" : "s");
    if (unstable > 0) extra += fmt::format(", {} unstable", unstable);
    fmt::print(stderr, "\r\033[K[{}{}] {}/{} runs{}, {} left  {}", std::string(std::size_t(filled), '#'),
               std::string(std::size_t(width - filled), '.'), done_, total_, extra, eta, label.substr(0, 56));
    std::fflush(stderr);
  }
  void end(const std::string& label, const std::string& status) {
    ++done_;
    if (tty_) fmt::print(stderr, "\r\033[K");
    if (verbose_ || (tty_ && status != "ok")) fmt::print(stderr, "{}: {}\n", label, status);
  }
  void finish() {
    if (tty_) fmt::print(stderr, "\r\033[K");
  }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  int reruns() const { return reruns_; }

 private:
  std::size_t total_, done_ = 0;
  int reruns_ = 0;
  bool tty_, verbose_;
  std::chrono::steady_clock::time_point start_;
};

std::vector<std::string> child_command(const Cell& cell, const SuiteConfig& config, int repeat,
                                       const std::string& json_path) {
  RunOptions o = cell.options;
  o.steps = config.steps;
  std::vector<std::string> argv = {self_exe(), "run"};
  for (std::string& word : option_arguments(o)) argv.push_back(std::move(word));
  argv.insert(argv.end(), {"--warmup", std::to_string(config.warmup), "--json", json_path});
  if (repeat > 0) argv.emplace_back("--no-timeline");  // one timeline per cell is enough for the chart
  return argv;
}

nlohmann::json failure_record(const Cell& cell, RunStatus status, const std::string& reason) {
  return failure_record(cell.name, config_json(cell.options), status, reason);
}

}  // namespace

MedianInterval median_interval(std::vector<double> values) {
  MedianInterval m;
  if (values.empty()) return m;
  std::sort(values.begin(), values.end());
  const int n = int(values.size());
  // P(Binomial(n, 1/2) <= j) for every j, from the binomial coefficients.
  std::vector<double> cdf(std::size_t(n) + 1);
  double coefficient = 1.0, total = 0.0;
  for (int j = 0; j <= n; ++j) {
    total += coefficient / std::pow(2.0, n);
    cdf[std::size_t(j)] = total;
    coefficient = coefficient * double(n - j) / double(j + 1);
  }
  const auto coverage = [&](int k) { return 1.0 - 2.0 * cdf[std::size_t(k - 1)]; };
  int k = 1;
  for (int candidate = (n + 1) / 2; candidate >= 1; --candidate)
    if (coverage(candidate) >= 0.95) {
      k = candidate;
      break;
    }
  m.low = values[std::size_t(k - 1)], m.high = values[std::size_t(n - k)];
  m.level = std::max(0.0, coverage(k));
  return m;
}

std::vector<nlohmann::json> with_aggregates(const std::vector<nlohmann::json>& iterations) {
  std::map<std::string, std::vector<const nlohmann::json*>> by_cell;
  std::vector<std::string> order;
  for (const auto& r : iterations) {
    const std::string cell = r["run_name"];
    if (!by_cell.count(cell)) order.push_back(cell);
    by_cell[cell].push_back(&r);
  }
  std::vector<nlohmann::json> all = iterations;
  for (const auto& cell : order) all.push_back(aggregate(cell, by_cell[cell]));
  return all;
}

namespace {

// Why the cell is not to be started, or empty: the estimator's peak live bytes are a
// floor, so a cell above its budget or above what the machine has free cannot fit.
// Throws what the configuration's check throws.
std::string refusal_for(const Cell& cell, const SuiteConfig& config) {
  const MemoryNeed need = memory_need(cell.options, build_model(model_spec(cell.options)));
  if (config.budget_bytes && need.peak_live_bytes > *config.budget_bytes)
    return fmt::format("predicted peak live {:.1f} MiB exceeds the budget of {:.1f} MiB",
                       double(need.peak_live_bytes) / 1048576.0, double(*config.budget_bytes) / 1048576.0);
  return memory_shortfall(need, available_memory_bytes());
}

}  // namespace

nlohmann::json predicted_fields(const Cell& cell, const SuiteConfig& config) {
  if (cell.exec) return {{"predicted_rss_note", "not predicted: a command cell (the estimator knows only the kernel)"}};
  std::string refusal;
  try {
    refusal = refusal_for(cell, config);
  } catch (const std::exception& e) {
    refusal = e.what();
  }
  if (!refusal.empty()) return {{"predicted_rss_note", "not predicted: " + refusal}};
  RunOptions o = cell.options;
  o.steps = config.steps;
  Limits limits;
  // The budget bounds the run's cgroup charge, which is not its VmHWM (pages of shared
  // libraries are charged elsewhere): the child gets a quarter more, to give a figure
  // for a cell near the budget, and is stopped above that.
  if (config.budget_bytes) limits.memory_bytes = *config.budget_bytes + *config.budget_bytes / 4;
  limits.timeout_s = config.timeout_s;
  const RssPrediction p = predict_peak_rss(o, config.warmup + config.steps, limits);
  nlohmann::json fields = {{"prediction_seconds", p.seconds}};
  if (p.peak_rss_bytes) fields["predicted_peak_rss_bytes"] = *p.peak_rss_bytes;
  if (const std::string note = p.peak_rss_bytes ? p.caveat : p.error; !note.empty())
    fields["predicted_rss_note"] = note;
  return fields;
}

namespace {

Limits suite_limits(const SuiteConfig& config) {
  Limits limits;
  limits.memory_bytes = config.budget_bytes;
  limits.timeout_s = config.timeout_s;
  return limits;
}

// A command cell: CMD under its allocator, exactly as `memstrat exec` runs one repeat.
nlohmann::json run_command_cell(const ExecCell& cell, const SuiteConfig& config, int repeat,
                                const std::string& work_dir) {
  try {
    const std::string program = resolve_program(cell.command[0]);
    return exec_once(cell, program, preload_obstacle(program), suite_limits(config), work_dir, repeat == 0);
  } catch (const std::exception& e) {
    return exec_failure_record(cell, RunStatus::crash, e.what());
  }
}

// A kernel cell: `memstrat run` in a supervised child, unless the prediction refuses it.
nlohmann::json run_kernel_cell(const Cell& cell, const SuiteConfig& config, int repeat, const std::string& work_dir) {
  const std::string json_path = work_dir + "/run.json", err_path = work_dir + "/run.err";
  std::string refusal;
  try {
    refusal = refusal_for(cell, config);
  } catch (const std::exception& e) {
    return failure_record(cell, RunStatus::crash, e.what());
  }
  if (!refusal.empty()) return failure_record(cell, RunStatus::oom, refusal + " (not run)");
  fs::remove(json_path);
  Limits limits = suite_limits(config);
  const int ranks = cell.options.ranks;
  // The budget is each rank's: the ranks and mpirun share one limit of that many budgets
  // (mpirun's own ~30 MiB beside them), and a rank that went over its own is told below.
  constexpr std::size_t kMpirunBytes = std::size_t(64) << 20;
  if (limits.memory_bytes && ranks > 1) *limits.memory_bytes = *limits.memory_bytes * std::size_t(ranks) + kMpirunBytes;
  const Outcome outcome = supervise(child_command(cell, config, repeat, json_path), limits, "", err_path);
  // A run that diverged exits with its own status after writing its record.
  const bool diverged =
      outcome.status == RunStatus::crash && outcome.exit_code == kDivergedExit && fs::exists(json_path);
  nlohmann::json record;
  if (outcome.status == RunStatus::ok || diverged) {
    try {
      record = read_results_file(json_path)["benchmarks"].at(0);
    } catch (const std::exception& e) {
      record = failure_record(cell, RunStatus::crash, std::string("the run wrote no usable record: ") + e.what());
    }
  } else {
    std::string reason = outcome.reason;
    if (outcome.status == RunStatus::oom && config.budget_bytes && ranks > 1)
      reason += fmt::format(" (the {} ranks' budgets of {} each together, with mpirun's)", ranks,
                            format_bytes(double(*config.budget_bytes)));
    record = failure_record(cell, outcome.status, reason);
  }
  if (config.budget_bytes && ranks > 1 && record.value("status", "") == "ok")
    for (const nlohmann::json& rank : record.value("rank_records", nlohmann::json::array()))
      if (const double peak = rank.value("peak_rss_bytes", 0.0); peak > double(*config.budget_bytes)) {
        // Its figures stay: they say by how much.
        const std::string why =
            fmt::format("rank {}'s peak RSS {} is over the budget of {} a rank", rank.value("rank", 0),
                        format_bytes(peak), format_bytes(double(*config.budget_bytes)));
        record["status"] = to_string(RunStatus::oom);
        record["reason"] = why, record["error_message"] = why, record["error_occurred"] = true;
        break;
      }
  record["wall_s"] = outcome.wall_s;
  record["budget_enforcement"] = outcome.enforcement;
  if (outcome.cgroup_peak_bytes) record["cgroup_peak_bytes"] = *outcome.cgroup_peak_bytes;
  return record;
}

}  // namespace

nlohmann::json run_one(const Cell& cell, const SuiteConfig& config, int repeat, const std::string& work_dir,
                       RunStatus* status_out) {
  nlohmann::json record = cell.exec ? run_command_cell(*cell.exec, config, repeat, work_dir)
                                    : run_kernel_cell(cell, config, repeat, work_dir);
  record["name"] = cell.name;
  record["run_name"] = cell.name;
  record["repetition_index"] = repeat;
  record["repetitions"] = config.repeats;
  if (config.budget_bytes) record["budget_bytes"] = *config.budget_bytes;
  *status_out = parse_status(record["status"].get<std::string>()).value_or(RunStatus::crash);
  return record;
}

int run_suite(const SuiteConfig& config, const SuiteRunOptions& run) {
  // Where the results go: results/<host>-<date>.json, never over an earlier file unless resuming it.
  std::string path = run.out;
  if (path.empty()) {
    fs::create_directories(run.results_dir);
    const std::string stem = run.results_dir + "/" + host_name() + "-" + today();
    path = stem + ".json";
    for (int n = 2; !run.resume && fs::exists(path); ++n) path = stem + "-" + std::to_string(n) + ".json";
  }
  check_output_path(path, "results file");  // before the first run, not after it
  std::vector<nlohmann::json> iterations;
  if (run.resume && fs::exists(path)) {
    const nlohmann::json earlier = read_results_file(path);
    for (const auto& r : earlier["benchmarks"])
      if (r.value("run_type", "") == "iteration" && r.value("status", "") != to_string(RunStatus::interrupted))
        iterations.push_back(r);
    fmt::print(stderr, "resuming {}: {} runs already done\n", path, iterations.size());
  }
  // The run that stands for a repeat: its latest, the superseded ones aside.
  auto kept = [&](const std::string& cell, int repeat) -> nlohmann::json* {
    for (auto& r : iterations)
      if (r["run_name"] == cell && r.value("repetition_index", -1) == repeat && !superseded(r)) return &r;
    return nullptr;
  };
  auto done = [&](const std::string& cell, int repeat) { return kept(cell, repeat) != nullptr; };
  // Each cell's prediction, made before its first run; a resumed file's are kept.
  std::map<std::string, nlohmann::json> predictions;
  for (const auto& r : iterations)
    if (r.contains("prediction_seconds") || r.contains("predicted_rss_note")) {
      nlohmann::json& fields = predictions[r["run_name"].get<std::string>()];
      for (const char* key : {"predicted_peak_rss_bytes", "predicted_rss_note", "prediction_seconds"})
        if (r.contains(key)) fields[key] = r[key];
    }
  std::map<std::string, int> reruns;  // re-runs each cell has taken, those of an earlier session included
  for (const auto& r : iterations)
    if (superseded(r)) ++reruns[r["run_name"].get<std::string>()];
  auto rerun_due = [&](const Cell& cell, int repeat) {
    const nlohmann::json* r = kept(cell.name, repeat);
    return r != nullptr && r->value("disturbed", false) && reruns[cell.name] < config.max_reruns;
  };
  // Cells the file flags unstable, less those with a disturbed repeat still to re-run.
  auto unstable_cells = [&] {
    int n = 0;
    for (const auto& a : with_aggregates(iterations)) {
      if (a.value("run_type", "") != "aggregate" || !a.value("unstable", false)) continue;
      const std::string cell = a["run_name"];
      bool pending = false;
      for (int rep = 0; rep < config.repeats && !pending; ++rep) {
        const nlohmann::json* r = kept(cell, rep);
        pending = r && r->value("disturbed", false) && reruns[cell] < config.max_reruns;
      }
      n += pending ? 0 : 1;
    }
    return n;
  };

  nlohmann::json context = machine_context();
  context["command_line"] = run.command_line;
  context["suite"] = config.source;
  context["config"] = config.as_json;
  context["repeats"] = config.repeats;
  context["max_reruns"] = config.max_reruns;
  context["budget_enforcement"] = config.budget_bytes ? budget_enforcement() : "none";

  // Removed however the suite ends, a results file it cannot write included.
  const WorkDir work("suite");
  const std::string& work_dir = work.path();

  install_interrupt_handler();
  std::size_t total = 0;
  for (const auto& cell : config.cells)
    for (int rep = 0; rep < config.repeats; ++rep) total += done(cell.name, rep) ? 0 : 1;
  Progress progress(total, run.verbose);
  std::map<std::string, int> counts;
  bool interrupted = false;
  std::size_t written = iterations.size();  // runs the file on disk holds
  auto write = [&] {
    nlohmann::json versions = nlohmann::json::object();
    for (const auto& r : iterations)
      if (r.contains("allocator_version")) versions[r["allocator"].get<std::string>()] = r["allocator_version"];
    context["allocator_versions"] = versions;
    context["suite_seconds"] = progress.seconds();
    try {
      write_results_file(path, results_document(with_aggregates(iterations), context));
      written = iterations.size();
    } catch (const std::exception& e) {
      if (written == 0 && !fs::exists(path)) throw;
      throw std::runtime_error(
          fmt::format("{}; it holds the {} runs written before: make room, then run again with "
                      "--resume",
                      e.what(), written));
    }
  };
  // One run of a cell's repeat; false when the suite was interrupted during it.
  auto run_repeat = [&](const Cell& cell, int rep, int attempt) {
    const std::string label =
        fmt::format("{} #{}{}", cell.name, rep + 1, attempt > 0 ? fmt::format(" (re-run {})", attempt) : "");
    progress.begin(label, unstable_cells());
    if (config.predict && !predictions.count(cell.name)) predictions[cell.name] = predicted_fields(cell, config);
    RunStatus status = RunStatus::crash;
    nlohmann::json record = run_one(cell, config, rep, work_dir, &status);
    if (config.predict) record.update(predictions[cell.name]);
    std::string shown =
        status == RunStatus::ok ? "ok" : std::string(to_string(status)) + " (" + record.value("reason", "") + ")";
    if (record.value("disturbed", false)) shown += " but disturbed: " + record.value("disturbed_reason", "");
    progress.end(label, status == RunStatus::ok && !record.value("disturbed", false) ? "ok" : shown);
    if (status == RunStatus::interrupted) return false;
    record["attempt"] = attempt;
    if (nlohmann::json* earlier = kept(cell.name, rep)) {
      // The disturbed run stays in the file under its own name, out of the cell's figures
      // and out of Google Benchmark's compare.py, which matches records by name.
      (*earlier)["superseded"] = true;
      (*earlier)["name"] = cell.name + "_superseded";
    }
    iterations.push_back(std::move(record));
    ++counts[to_string(status)];
    write();
    return true;
  };
  // Round by round: every cell's first repeat, then every cell's second, and so on.
  // A shared machine drifts over minutes; interleaved, the drift lands on every cell
  // alike instead of on whichever cells ran late, and medians stay comparable.
  // After each round, its disturbed repeats are run again, one pass over the cells at a
  // time, while their cells have re-runs left: later, the load may have gone.
  for (int rep = 0; rep < config.repeats && !interrupted; ++rep) {
    for (const auto& cell : config.cells) {
      if (done(cell.name, rep)) continue;
      if (!run_repeat(cell, rep, 0)) {
        interrupted = true;
        break;
      }
    }
    for (bool again = true; again && !interrupted;) {
      again = false;
      for (const auto& cell : config.cells) {
        if (!rerun_due(cell, rep)) continue;
        const int attempt = kept(cell.name, rep)->value("attempt", 0) + 1;
        ++reruns[cell.name];
        progress.add_rerun();
        if (!run_repeat(cell, rep, attempt)) {
          interrupted = true;
          break;
        }
        again = true;
      }
    }
  }
  progress.finish();
  if (iterations.empty() && interrupted) {
    fmt::print(stderr, "interrupted before any run finished; nothing written\n");
    return 130;
  }
  write();
  std::string summary;
  for (const auto& [status, n] : counts) summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, status);
  std::string flagged;
  if (progress.reruns() > 0)
    flagged += fmt::format("; {} re-run{} of disturbed runs", progress.reruns(), progress.reruns() == 1 ? "" : "s");
  if (const int unstable = unstable_cells(); unstable > 0)
    flagged += fmt::format("; {} cell{} unstable, flagged in the file", unstable, unstable == 1 ? "" : "s");
  fmt::print("{} runs ({}{}) in {:.0f} s; results in {}\n", iterations.size(), summary.empty() ? "none new" : summary,
             flagged, progress.seconds(), path);
  if (interrupted) {
    fmt::print(stderr, "interrupted: run again with --resume to finish\n");
    return 130;
  }
  return 0;
}

namespace {

// Refuses, before anything runs, a cell whose options contradict each other
// (accum:K that does not divide its batch, ...), and a budget under which no
// cell at all could hold its model: most likely a unit mistyped.
void check_cells(const SuiteConfig& config) {
  std::map<std::string, std::pair<std::size_t, std::string>> state_bytes;  // by model configuration: bytes, a cell
  for (const auto& cell : config.cells) {
    try {
      const Model model = build_model(model_spec(cell.options));
      train_options(cell.options, make_techniques(cell.options.tech), model);
      if (config.budget_bytes) {
        RunOptions shape = cell.options;
        shape.batch = 1, shape.tech = "none", shape.alloc = "malloc";
        shape.steps = 0, shape.seed = 0, shape.data_mode = "memory";
        const std::string key = config_json(shape).dump();
        if (!state_bytes.count(key)) state_bytes[key] = {model_state_bytes(shape), cell.name};
      }
    } catch (const std::exception& e) {
      throw std::invalid_argument("config " + config.source + ": " + cell.name + ": " + e.what());
    }
  }
  if (state_bytes.empty()) return;
  const auto least = std::min_element(state_bytes.begin(), state_bytes.end(),
                                      [](const auto& a, const auto& b) { return a.second.first < b.second.first; });
  if (least->second.first > *config.budget_bytes)
    throw std::invalid_argument(fmt::format(
        "the memory budget of {} is smaller than what any cell holds before its first step (at least {} for {}: "
        "parameters, gradients, optimizer state; estimator): nothing could train",
        format_bytes(double(*config.budget_bytes)), format_bytes(double(least->second.first)), least->second.second));
}

}  // namespace

Command add_suite(CLI::App& app) {
  auto* c = app.add_subcommand("suite", "run a matrix of configurations, each repeat in its own process");
  auto preset = std::make_shared<std::string>("default");
  auto config_path = std::make_shared<std::string>();
  auto budget = std::make_shared<std::string>();
  auto repeats = std::make_shared<int>(0);
  auto max_reruns = std::make_shared<int>(-1);
  auto run = std::make_shared<SuiteRunOptions>();
  std::string presets;
  for (const auto& [name, what] : preset_names()) presets += "\n  " + name + ": " + what;
  c->add_option("--preset", *preset, "built-in matrix:" + presets)->capture_default_str();
  c->add_option("--config", *config_path, "a matrix file (TOML or JSON) instead of a preset")
      ->check(CLI::ExistingFile)
      ->excludes(c->get_option("--preset"));
  c->add_option("--memory-budget", *budget,
                std::string("budget per run, e.g. 512MiB or 2GiB (overrides the matrix's; ") + kSizeForms + ")")
      ->check(byte_size());
  c->add_option("--repeats", *repeats, "repeats per cell (overrides the matrix's)")->check(whole_number(1, 100));
  c->add_option("--max-reruns", *max_reruns,
                "re-runs a cell may take of runs disturbed by other load (overrides the matrix's; default 2)")
      ->check(whole_number(0, 100));
  c->add_option("--out", run->out, "results file (default: results/<host>-<date>.json)")
      ->check(writable_path("results file"));
  c->add_flag("--resume", run->resume, "skip runs the results file already holds");
  c->add_flag("--verbose,-v", run->verbose, "print each run's status");
  c->add_flag("--dry-run", run->dry_run, "list the cells and stop");
  return [=]() {
    SuiteConfig config = config_path->empty() ? load_preset(*preset) : load_config_file(*config_path);
    if (!budget->empty()) config.budget_bytes = parse_size(*budget);
    if (*repeats > 0) config.repeats = *repeats;
    if (*max_reruns >= 0) config.max_reruns = *max_reruns;
    check_cells(config);
    if (run->dry_run) {
      for (const auto& cell : config.cells) fmt::print("{}\n", cell.name);
      fmt::print("{} cells x {} repeats from {}\n", config.cells.size(), config.repeats, config.source);
      return 0;
    }
    run->command_line = command_line_text();
    return run_suite(config, *run);
  };
}

}  // namespace memstrat::cli

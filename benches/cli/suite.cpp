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
#include "benches/cli/preload.h"
#include "benches/cli/record.h"
#include "benches/cli/schema.h"
#include "benches/cli/suite.h"
#include "benches/cli/supervise.h"
#include "benches/cli/units.h"

namespace memstrat::cli {

namespace fs = std::filesystem;

namespace {

std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }

std::string today() {
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::localtime(&now));
  return date;
}

// The median of a numeric figure over the ok repeats, for every figure they all have.
nlohmann::json aggregate(const std::string& cell, const std::vector<const nlohmann::json*>& repeats) {
  nlohmann::json a;
  a["name"] = cell + "_median";
  a["run_name"] = cell;
  a["run_type"] = "aggregate";
  a["aggregate_name"] = "median";
  a["repetitions"] = repeats.size();
  a["config"] = (*repeats.front())["config"];
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
  // Spread over every measured step of every repeat.
  std::vector<double> steps, per_repeat;
  for (const auto* r : ok) {
    per_repeat.push_back((*r)["step_ms"].get<double>());
    for (const auto& t : (*r)["step_times_ms"]) steps.push_back(t.get<double>());
  }
  std::sort(steps.begin(), steps.end());
  a["step_ms_repeats"] = per_repeat;
  // Derived figures follow from the medians, not the median of each repeat's ratio.
  a["samples_per_s"] = a["config"]["batch"].get<double>() / (a["step_ms"].get<double>() / 1e3);
  a["step_ms_p10"] = steps[std::size_t(0.1 * double(steps.size() - 1))];
  a["step_ms_p90"] = steps[std::size_t(std::ceil(0.9 * double(steps.size() - 1)))];
  a["losses"] = (*ok.front())["losses"];
  return a;
}

class Progress {
 public:
  Progress(std::size_t total, bool verbose) : total_(total), tty_(::isatty(STDERR_FILENO)), verbose_(verbose) {
    start_ = std::chrono::steady_clock::now();
  }
  void begin(const std::string& label) {
    if (!tty_) return;
    const double elapsed = seconds();
    std::string eta = "--";
    if (done_ > 0) {
      const double left = elapsed / double(done_) * double(total_ - done_);
      eta = fmt::format("{}m{:02}s", int(left) / 60, int(left) % 60);
    }
    const int width = 24, filled = int(double(width) * double(done_) / double(std::max<std::size_t>(total_, 1)));
    fmt::print(stderr, "\r\033[K[{}{}] {}/{} runs, ETA {}  {}", std::string(std::size_t(filled), '#'),
               std::string(std::size_t(width - filled), '.'), done_, total_, eta, label.substr(0, 60));
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

 private:
  std::size_t total_, done_ = 0;
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
  return {
      {"name", cell.name}, {"run_name", cell.name},  {"run_type", "iteration"}, {"status", to_string(status)},
      {"reason", reason},  {"error_occurred", true}, {"error_message", reason}, {"config", config_json(cell.options)}};
}

}  // namespace

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

nlohmann::json run_one(const Cell& cell, const SuiteConfig& config, int repeat, const std::string& work_dir,
                       RunStatus* status_out) {
  nlohmann::json record;
  const std::string json_path = work_dir + "/run.json", err_path = work_dir + "/run.err";
  // What the estimator already knows cannot fit is not started: its peak live bytes are a floor.
  std::string refusal;
  try {
    const MemoryNeed need = memory_need(cell.options, build_model(model_spec(cell.options)));
    if (config.budget_bytes && need.peak_live_bytes > *config.budget_bytes)
      refusal = fmt::format("predicted peak live {:.1f} MiB exceeds the budget of {:.1f} MiB",
                            double(need.peak_live_bytes) / 1048576.0, double(*config.budget_bytes) / 1048576.0);
    else
      refusal = memory_shortfall(need, available_memory_bytes());
  } catch (const std::exception& e) {
    record = failure_record(cell, RunStatus::crash, e.what());
  }
  if (!record.is_null()) {
  } else if (!refusal.empty()) {
    record = failure_record(cell, RunStatus::oom, refusal + " (not run)");
  } else {
    fs::remove(json_path);
    Limits limits;
    limits.memory_bytes = config.budget_bytes;
    limits.timeout_s = config.timeout_s;
    const Outcome outcome = supervise(child_command(cell, config, repeat, json_path), limits, "", err_path);
    // A run that diverged exits with its own status after writing its record.
    const bool diverged =
        outcome.status == RunStatus::crash && outcome.exit_code == kDivergedExit && fs::exists(json_path);
    if (outcome.status == RunStatus::ok || diverged) {
      try {
        record = read_results_file(json_path)["benchmarks"].at(0);
      } catch (const std::exception& e) {
        record = failure_record(cell, RunStatus::crash, std::string("the run wrote no usable record: ") + e.what());
      }
    } else {
      record = failure_record(cell, outcome.status, outcome.reason);
    }
    record["wall_s"] = outcome.wall_s;
    record["budget_enforcement"] = outcome.enforcement;
    if (outcome.cgroup_peak_bytes) record["cgroup_peak_bytes"] = *outcome.cgroup_peak_bytes;
  }
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
  auto done = [&](const std::string& cell, int repeat) {
    return std::any_of(iterations.begin(), iterations.end(), [&](const nlohmann::json& r) {
      return r["run_name"] == cell && r.value("repetition_index", -1) == repeat;
    });
  };

  nlohmann::json context = machine_context();
  context["command_line"] = run.command_line;
  context["suite"] = config.source;
  context["config"] = config.as_json;
  context["repeats"] = config.repeats;
  context["budget_enforcement"] = config.budget_bytes ? budget_enforcement() : "none";

  char work_template[] = "/tmp/memstrat-suite-XXXXXX";
  const char* work = ::mkdtemp(work_template);
  if (work == nullptr) throw std::runtime_error("cannot make a working directory in /tmp");
  const std::string work_dir = work;
  // Removed however the suite ends, a results file it cannot write included.
  const std::unique_ptr<const char, void (*)(const char*)> remove_work(work, [](const char* dir) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  });

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
  // Round by round: every cell's first repeat, then every cell's second, and so on.
  // A shared machine drifts over minutes; interleaved, the drift lands on every cell
  // alike instead of on whichever cells ran late, and medians stay comparable.
  for (int rep = 0; rep < config.repeats && !interrupted; ++rep) {
    for (const auto& cell : config.cells) {
      if (done(cell.name, rep)) continue;
      const std::string label = fmt::format("{} #{}", cell.name, rep + 1);
      progress.begin(label);
      RunStatus status = RunStatus::crash;
      nlohmann::json record = run_one(cell, config, rep, work_dir, &status);
      progress.end(label, status == RunStatus::ok
                              ? "ok"
                              : std::string(to_string(status)) + " (" + record.value("reason", "") + ")");
      if (status == RunStatus::interrupted) {
        interrupted = true;
        break;
      }
      iterations.push_back(std::move(record));
      ++counts[to_string(status)];
      write();
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
  fmt::print("{} runs ({}) in {:.0f} s; results in {}\n", iterations.size(), summary.empty() ? "none new" : summary,
             progress.seconds(), path);
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
  c->add_option("--out", run->out, "results file (default: results/<host>-<date>.json)")
      ->check(writable_path("results file"));
  c->add_flag("--resume", run->resume, "skip runs the results file already holds");
  c->add_flag("--verbose,-v", run->verbose, "print each run's status");
  c->add_flag("--dry-run", run->dry_run, "list the cells and stop");
  return [=]() {
    SuiteConfig config = config_path->empty() ? load_preset(*preset) : load_config_file(*config_path);
    if (!budget->empty()) config.budget_bytes = parse_size(*budget);
    if (*repeats > 0) config.repeats = *repeats;
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

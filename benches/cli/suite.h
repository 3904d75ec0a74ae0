// Running a suite: shared by `memstrat suite` and the tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "benches/cli/status.h"
#include "benches/cli/suite_config.h"

namespace memstrat::cli {

struct SuiteRunOptions {
  std::string out;  // results file; default results/<host>-<date>.json
  std::string results_dir = "results";
  bool resume = false;
  bool verbose = false;
  bool dry_run = false;
  std::string command_line;
};

// Returns the exit code: 0, or 130 when interrupted (the file then holds what finished).
int run_suite(const SuiteConfig& config, const SuiteRunOptions& options);

// Runs one repeat of a cell in a child process and returns its record.
nlohmann::json run_one(const Cell& cell, const SuiteConfig& config, int repeat, const std::string& work_dir,
                       RunStatus* status);

// The cell's peak RSS predicted before it runs (predict.h), under the suite's budget,
// as record fields: predicted_peak_rss_bytes when there is a figure, predicted_rss_note
// with what it cannot see or why there is none, prediction_seconds.
nlohmann::json predicted_fields(const Cell& cell, const SuiteConfig& config);

// The iteration records followed by one median record per cell; superseded runs
// (disturbed, then re-run) stay in the list and out of the medians.
std::vector<nlohmann::json> with_aggregates(const std::vector<nlohmann::json>& iterations);

// A distribution-free interval for the median of `values`: [x(k), x(n+1-k)] of the
// sorted values for the largest k whose coverage, 1 - 2 P(Binomial(n, 1/2) < k), is at
// least 95%; where no k reaches it (5 values or fewer), min to max with its coverage.
struct MedianInterval {
  double low = 0.0, high = 0.0, level = 0.0;
};
MedianInterval median_interval(std::vector<double> values);

// A cell whose repeats' medians differ by more than this factor, slowest over fastest,
// is unstable even when no run measured a disturbance: its median is not good to about
// ±5%, the tolerance the interference check (scripts/interference) holds figures to.
// On a shared VM the host's other tenants move a process's speed by 10-15% between
// runs without any trace in /proc; this is the flag that says so.
inline constexpr double kMaxRepeatSpread = 1.10;

}  // namespace memstrat::cli

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

// The iteration records followed by one median record per cell.
std::vector<nlohmann::json> with_aggregates(const std::vector<nlohmann::json>& iterations);

}  // namespace memstrat::cli

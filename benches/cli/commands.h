// The memstrat CLI's subcommands. Each registers its options on a CLI11
// subcommand and returns the function that runs it (its exit code).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "benches/cli/session.h"
#include "kernels/estimator.h"

namespace memstrat::cli {

using Command = std::function<int()>;

Command add_train(CLI::App& app);
Command add_list(CLI::App& app);
Command add_estimate(CLI::App& app);
Command add_run(CLI::App& app);
Command add_hwinfo(CLI::App& app);
Command add_suite(CLI::App& app);
Command add_fit(CLI::App& app);
Command add_trace(CLI::App& app);
Command add_exec(CLI::App& app);
// The words after `memstrat exec ... --`, split off before the options are parsed.
void set_exec_command(std::vector<std::string> words);

// Shared by the commands that report an estimate.
Estimate estimate_for(const RunOptions& options);
nlohmann::json estimate_json(const Estimate& estimate);

}  // namespace memstrat::cli

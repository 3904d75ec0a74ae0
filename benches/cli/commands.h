// The memstrat CLI's subcommands. Each registers its options on a CLI11
// subcommand and returns the function that runs it (its exit code).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace memstrat::cli {

using Command = std::function<int()>;

Command add_train(CLI::App& app);
Command add_list(CLI::App& app);

}  // namespace memstrat::cli

// The options that say what a run is, each declared once.
//
// One table (options.cpp) gives every option its flag, type, default, check,
// help text, key in a results record and in a suite matrix, its part of the
// record name and its place on a child's command line. The CLI's flags, the
// record's "config", the suite's matrix keys and the command line of each
// child run are all read from that table, so a new option is one entry.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memstrat::cli {

struct RunOptions {
  std::string model = "vgg-mini";
  int image = 0;     // 0: the model's default
  int channels = 0;  // deepconv only; 0: default
  int classes = 0;   // 0: the model's default
  int batch = 32;
  int steps = 10;
  int threads = 0;  // 0: every core (under --ranks: cores / ranks each)
  int ranks = 1;    // MPI processes training together; batch is then every rank's samples
  std::uint64_t seed = 1;
  std::optional<double> lr;  // absent: the optimizer's default
  std::string optimizer = "sgd";
  std::string data;           // dataset file; generated when absent; a temporary one when empty
  std::uint64_t samples = 0;  // 0: a default sized to the sample
  std::string alloc = "malloc";
  std::string tech = "none";  // technique list, "bf16,accum:4,recompute"
  std::string data_mode = "memory";
  std::string transport;  // under --ranks: "tcp" for Open MPI's TCP transport only; empty: its own choice
};

// Which commands take an option: `config` names a configuration (estimate, fit,
// trace record take these); `run` is what a run needs besides (run, train, suite).
enum class OptionGroup { config, run };

struct RunOption {
  std::string_view key;    // in a record's "config" and as a suite matrix setting: "batch"
  std::string_view flags;  // CLI11 names: "--batch,-b"
  std::string_view help;
  OptionGroup group;
  // Registers the flag, with its check and shown default, on a command.
  std::function<CLI::Option*(CLI::App&, RunOptions&)> add;
  // The value as JSON; null when the option is absent (an optional left out).
  std::function<nlohmann::json(const RunOptions&)> get;
  // Sets the value from a suite matrix; returns why it is refused, empty when not.
  std::function<std::string(RunOptions&, const nlohmann::json&)> set;
  // The value as a command-line word.
  std::function<std::string(const RunOptions&)> text;
  // Differs from the default: only then is it on a child's command line and in the name.
  std::function<bool(const RunOptions&)> given;
  // Its part of the record name when given ("i64" for --image 64); empty: not in the name.
  std::function<std::string(const RunOptions&)> name_part;
};

const std::vector<RunOption>& run_options();
const RunOption& run_option(std::string_view key);

// Checks of an option's text, as the command line is read. CLI11's own would read
// "-1" into an unsigned option as its wrapped value, or "abc" as "not in range".
CLI::Validator whole_number(std::uint64_t low, std::uint64_t high);
CLI::Validator positive_number(double high);

// The options that name a configuration (model, batch, threads, optimizer, techniques).
void add_config_options(CLI::App& command, RunOptions& options);
// Those, and what a run needs besides (steps, seed, data, allocator).
void add_run_options(CLI::App& command, RunOptions& options);

// model/bBATCH/ALLOC/TECH, then a part for every other option that was given.
std::string record_name(const RunOptions& options);
// Every option, by its key; an optional one that is absent is left out.
nlohmann::json config_json(const RunOptions& options);
// The words that give a child process the same options: every option that was given.
std::vector<std::string> option_arguments(const RunOptions& options);

}  // namespace memstrat::cli

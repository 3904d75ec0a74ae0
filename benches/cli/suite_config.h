// A suite: the matrix of configurations to run, from a preset or a file.
//
// A file (TOML or JSON) lists the axes; the matrix is the union of each
// [[matrix]] entry's cross product:
//
//   repeats = 3            # each cell run this many times, each in a fresh process
//   steps = 8              # measured steps per run (after warmup)
//   warmup = 2
//   budget = "2GiB"        # optional memory budget per run
//   timeout = 300          # seconds per run
//   max_reruns = 2         # re-runs per cell of runs disturbed by other load
//   predict = true         # predict each cell's peak RSS before its first run (predict.h)
//   [[matrix]]
//   models = ["vgg-mini"]
//   batches = [64]
//   allocators = ["malloc", "jemalloc"]
//   techniques = ["none", "bf16,accum:4"]
//   threads = [2]          # optional; default: every core
//   image = 32             # optional, as are channels, classes, optimizer, data_mode, samples
//   [[matrix]]             # a command cell: any program, as `memstrat exec` runs it
//   command = ["/usr/bin/python3", "workloads/torch_train.py", "--batch", "64"]
//   allocators = ["malloc", "jemalloc"]   # process-wide ones only
//   label = "torch"        # optional; names it in exec/LABEL/ALLOC
//   batch = 64             # optional: samples per step, for samples/s
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "benches/cli/exec.h"
#include "benches/cli/session.h"

namespace memstrat::cli {

struct Cell {
  std::string name;  // the record name, e.g. vgg-mini/b64/jemalloc/none
  RunOptions options;
  std::optional<ExecCell> exec;  // a command cell (options unused): run as `memstrat exec` runs it
};

struct SuiteConfig {
  std::string source;  // "preset quick" or the file's path
  int repeats = 3;
  int steps = 8;
  int warmup = 2;
  std::optional<std::size_t> budget_bytes;
  double timeout_s = 300;
  int max_reruns = 2;   // runs a cell may take beyond its repeats, re-running disturbed ones
  bool predict = true;  // each cell's peak RSS predicted once, before its first run
  std::vector<Cell> cells;
  nlohmann::json as_json;  // the configuration as read, for the results file
};

// Names of the built-in presets, each with a line on what it is for.
std::vector<std::pair<std::string, std::string>> preset_names();
// Throws std::invalid_argument naming the key or line that is wrong.
SuiteConfig load_preset(const std::string& name);
SuiteConfig load_config_file(const std::string& path);
// The same from the file's text: TOML when `toml`, JSON otherwise; `source` names it in errors.
SuiteConfig parse_config_text(const std::string& text, const std::string& source, bool toml);
SuiteConfig parse_config(const nlohmann::json& config, const std::string& source);

}  // namespace memstrat::cli

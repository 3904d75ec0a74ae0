// Checks made before a run takes any memory or time. A configuration that cannot
// work is refused up front in one line: not after minutes of training, and not
// by the kernel's OOM killer picking a victim on a machine shared with others.
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <optional>
#include <string>

#include "benches/cli/session.h"
#include "kernels/data.h"

namespace memstrat::cli {

// The least memory a run needs. peak_live_bytes is the estimator's exact figure
// for the tensor buffers; no allocator goes under it, so neither does the run.
struct MemoryNeed {
  std::size_t peak_live_bytes = 0;  // the estimator's
  std::size_t dataset_bytes = 0;    // the dataset held in memory: all of it in memory mode, else its labels
  std::size_t labels_bytes = 0;     // of which its labels, held in every mode
  std::size_t process_bytes = 0;    // the process itself: code, libraries, the threads' stacks
  std::size_t total() const { return peak_live_bytes + dataset_bytes + process_bytes; }
};

// What this process may still take without the kernel reclaiming it from others:
// MemAvailable of /proc/meminfo, or what the process's own memory cgroup has left
// when that is less.
std::size_t available_memory_bytes();

// The dataset a run of `options` reads: the named file's, when it exists, else
// the one it generates. Throws DataError for a named file that is not a dataset.
DatasetInfo planned_dataset(const RunOptions& options, const Model& model);

// Runs the estimator (a dry run: it takes no memory).
MemoryNeed memory_need(const RunOptions& options, const Model& model);

// Empty when `need` fits in `available`; else one line with both figures:
// "needs about 97.3 GiB (estimator: ...); this machine has 21.4 GiB available".
std::string memory_shortfall(const MemoryNeed& need, std::size_t available);

// What a user can change to need no more than `available`: the larger part decides.
std::string memory_advice(const MemoryNeed& need, std::size_t available);

// What this model holds before its first step whatever the batch and the
// techniques: parameters, gradients, optimizer state (the estimator's setup
// figure at batch 1, without techniques; over ranks, a rank's under zero:3 at one
// sample a rank). A budget under it cannot train at all.
std::size_t model_state_bytes(const RunOptions& options);

// A rank's model states by the ZeRO paper's formulas (Rajbhandari et al. 2020, section
// 5.1), with this run's own bytes where the paper counts mixed-precision Adam's: P, G
// and K are the parameters, gradients and optimizer state one process holds (fp32
// here, 4 + 4 + 4 bytes a parameter under SGD with momentum, 4 + 4 + 8 under Adam).
// dp: P + G + K; zero:1: P + G + K/N; zero:2: P + (G + K)/N; zero:3: (P + G + K)/N.
// What they leave out (activations, workspace, the buffers collectives move, a layer's
// gathered parameters) is the rest of the estimator's figure. Absent without ranks.
std::optional<std::size_t> zero_formula_bytes(const RunOptions& options);

// Throws std::runtime_error when a file cannot be written at `path`: its folder is
// missing, is not a folder or cannot take a new file, or the path is a folder
// itself. `what` names the file ("results file", "trace file") in the message.
void check_output_path(const std::string& path, const std::string& what);
// The same check on an option's value, as the command line is read.
CLI::Validator writable_path(const std::string& what);

// The size of a dataset's file, about (header, labels, samples).
double dataset_file_bytes(const DatasetInfo& info);

// Throws DataError when the dataset `info` describes will not fit in the free
// space of the file system that holds `path`.
void check_disk_space(const std::string& path, const DatasetInfo& info);

}  // namespace memstrat::cli

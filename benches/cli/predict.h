// Peak RSS predicted per allocator, before a run: the dry run's allocation sequence
// (benches/cli/trace.h) replayed through the allocator in a child process of its own,
// every page of every buffer written and no arithmetic done, the peak read the way
// `run` reads it (VmHWM, reset after setup), over as many steps as the run takes. The child's setup is the run's own
// (open_session: dataset, weights, the trainer's buffers), so its baseline is the
// run's; a process-wide allocator is preloaded into it as into a run.
//
// What it does not see: pages a technique or data mode maps outside the allocator
// (offload's spill file, an mmap'd dataset's pages) and the first step's thread
// stacks. Those runs are predicted low, and say so (RssPrediction::caveat).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "benches/cli/commands.h"
#include "benches/cli/options.h"
#include "benches/cli/supervise.h"

namespace memstrat::cli {

// Steps the child replays after setup when not told: `run`'s default, 2 warm-up
// steps and 10 measured. The run's own count is the one to give: the first step sizes
// the pools and the plan, and glibc's heap goes on growing over later ones (deepconv:16
// b32 with bf16: 100 MiB after 3 steps, 146 MiB after 11).
inline constexpr int kDefaultPredictSteps = 12;

struct RssPrediction {
  std::string alloc;
  std::optional<std::size_t> peak_rss_bytes;  // absent when the child failed
  std::size_t baseline_rss_bytes = 0;
  double seconds = 0.0;      // the child's wall time, setup included
  bool over_budget = false;  // stopped above the memory limit it was given: the run would not fit
  std::string error;         // why there is no figure
  std::string caveat;        // what the replay cannot see for this configuration, when anything
};

// Runs the child for `options` (its alloc included), replaying `steps` steps (warm-up
// included) under `limits` (the run's budget, when it has one), and reads its answer.
RssPrediction predict_peak_rss(const RunOptions& options, int steps, const Limits& limits);

// The hidden `predict-rss` command the child runs.
Command add_predict_child(CLI::App& app);

}  // namespace memstrat::cli

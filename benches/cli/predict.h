// Peak RSS predicted per allocator, before a run: the dry run's allocation sequence
// (benches/cli/trace.h) replayed through the allocator in a child process of its own,
// every page of every buffer written and no arithmetic done, the peak read the way
// `run` reads it (VmHWM, reset after setup). The child's setup is the run's own
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

namespace memstrat::cli {

// Steps the child replays after setup: the first sizes the pools and the plan, the
// later ones show what they keep.
inline constexpr int kPredictSteps = 3;

struct RssPrediction {
  std::string alloc;
  std::optional<std::size_t> peak_rss_bytes;  // absent when the child failed
  std::size_t baseline_rss_bytes = 0;
  double seconds = 0.0;  // the child's wall time, setup included
  std::string error;     // why there is no figure
  std::string caveat;    // what the replay cannot see for this configuration, when anything
};

// Runs the child for `options` (its alloc included) and reads its answer.
RssPrediction predict_peak_rss(const RunOptions& options, double timeout_s = 300.0);

// The hidden `predict-rss` command the child runs.
Command add_predict_child(CLI::App& app);

}  // namespace memstrat::cli

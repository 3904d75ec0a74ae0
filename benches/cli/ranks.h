// `memstrat run --ranks N`: the run as N MPI processes (memstrat-rank under
// mpirun), each training on its slice of the batch; their records merged into one.
//
// The merged record is rank 0's, with every rank's own figures in `rank_records`,
// the spread across ranks (max ÷ min of peak RSS and of step time), and as
// `peak_rss_bytes` the largest rank's: the figure a per-rank budget must hold.
// A rank that fails (exits non-zero, is killed, a collective hangs past the time
// limit) ends the run with a status naming the rank and why; the whole process
// group of mpirun is killed, so no rank outlives it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "benches/cli/options.h"

namespace memstrat::cli {

struct RankLaunch {
  std::string hostfile;  // passed to mpirun; empty: every rank on this host
  double timeout_s = 600;
};

// Checks what can be checked before anything starts (mpirun present, memstrat-rank
// built, the batch divides, the hostfile's hosts resolve); throws with one line.
void check_rank_launch(const RunOptions& options, const RankLaunch& launch);

// --hostfile and --timeout, on the commands that take --ranks.
void add_rank_launch_options(CLI::App& command, RankLaunch& launch);

// `memstrat train --ranks N`: N ranks of `train` under mpirun, rank 0 printing here;
// `extra` are train's own words (--quiet, --eval N). Returns the exit status.
int train_ranks(const RunOptions& options, const std::vector<std::string>& extra, const RankLaunch& launch);

nlohmann::json run_ranks(const RunOptions& options, int warmup, bool keep_timeline, const RankLaunch& launch);

}  // namespace memstrat::cli

// `memstrat trace replay`: a trace played through a strategy in a child process of its
// own, every page of every block written, its peak RSS read as `run` reads it.
//
// For a captured trace (memstrat exec --capture) the child replays the whole setup (the
// program's start: interpreter, libraries, model), resets VmHWM, then plays every
// captured step once, in order, with step_begin/step_end at the marks, so that `pool`,
// `arena` and `planned` see steps as in a run. Its figures:
//   rise:   VmHWM over the steps minus RSS after setup: what the steps added;
//   heap:   VmHWM over the steps minus RSS before setup: what the whole stream needs;
// against the captured run's own rise (its peak RSS minus its RSS at the first step's
// begin, both read by the probe). A dry-run trace (memstrat trace record) replays its
// one step `--steps` times the same way.
//
// What a replay does not make: the program's memory outside malloc (Python's object
// arenas are mmap'd by the interpreter itself, thread stacks, libraries' pages) and
// threads: every call is played from one thread, so per-thread caches (tcmalloc's,
// mimalloc's) are not exercised as the program exercised them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "benches/cli/commands.h"
#include "benches/cli/supervise.h"

namespace memstrat::cli {

// The strategies `trace replay` plays when --alloc is not given: every one this build
// can run, each with its default option.
std::vector<std::string> default_replay_strategies();

// Plays the trace at `path` through `spec` in a child; the answer (peak_rss_bytes,
// rise_bytes, heap_bytes, step_peak_rss_bytes, the strategy's own figures, seconds)
// or {"error": why}.
nlohmann::json replay_in_child(const std::string& path, const std::string& spec, int steps, const Limits& limits);

// `memstrat trace replay` and its hidden child, as subcommands of `trace`.
Command add_trace_replay(CLI::App& trace);
Command add_trace_replay_child(CLI::App& trace);

}  // namespace memstrat::cli

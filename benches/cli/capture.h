// A captured allocation stream (benches/probe/capture.cpp's records) and the
// workload's step marks, made into a replayable trace (benches/cli/trace.h, version 2).
//
// Placement: a call belongs to the setup when it came before the first step's begin
// mark, to step i from step i's begin to step i+1's (the part after step i's end mark
// ran between steps, outside any step), and to nobody after the last step's end (the
// exit's frees). Blocks allocated before the capture began (by the loader) and freed
// later are counted, not replayed. A realloc is a free and an allocation. Alignment is
// what was asked (malloc's is 16, glibc's guarantee), at most 4096 (more is counted and
// replayed at 4096); a zero-byte request is replayed as one byte.
//
// A capture that stopped early (the disk filled, the size limit) or whose trailer is
// missing (the process was killed) is incomplete: only the steps that ended before the
// last record are kept, and the trace says so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "benches/cli/trace.h"

namespace memstrat::cli {

// One marked step, on CLOCK_MONOTONIC (the probe's begin and end events).
struct StepSpan {
  long index = 0;
  std::uint64_t begin_ns = 0, end_ns = 0;
};

// Reads the capture at `path` into a trace of the marked `steps`. The trace's
// `captured` object says what was read: records, complete or why not, the calls by
// function, threads, frees of unknown blocks, alignments clamped, steps kept.
// Throws std::runtime_error when there is nothing to make a trace of (no file, no
// marked step covered by the records).
Trace trace_from_capture(const std::string& path, const std::vector<StepSpan>& steps, const std::string& description);

// The live bytes the trace holds at the first step's begin, and the most it holds at
// any moment of its steps (the floor any allocator's heap sits on), from the trace alone.
struct TraceLive {
  std::size_t at_first_step = 0, step_peak = 0;
};
TraceLive trace_live_bytes(const Trace& trace);

}  // namespace memstrat::cli

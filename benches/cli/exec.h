// `memstrat exec`: any program, run under each process-wide allocator the way `run`
// runs the kernel: each repeat its own process, in the supervisor (budget, time
// limit, the process tree's RSS over time, wait4's CPU time and faults), and read
// from inside by the probe memstrat preloads beside the allocator
// (benches/probe/probe.cpp: which library served malloc, the allocator's own view,
// each marked step's time and peak).
//
// What is measured of a command that starts other processes: peak_rss_bytes is the
// VmHWM of the process memstrat started (from its first step mark when it marks
// steps); tree_peak_rss_bytes is the largest sum of RSS of it and every process
// under it at one 10 ms sample; processes counts the tree's members. Threads are
// part of their process and count in its RSS.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "benches/cli/status.h"
#include "benches/cli/supervise.h"

namespace memstrat::cli {

// The process-wide allocators exec tries when --alloc is not given.
inline constexpr const char* kExecDefaultAllocs = "malloc,jemalloc,mimalloc,tcmalloc";
// exec's exit status when it measured, but some run did not end ok (its record says why).
inline constexpr int kExecRunFailedExit = 3;

struct ExecCell {
  std::vector<std::string> command;  // as given: the program, then its arguments
  std::string alloc = "malloc";
  std::string label;  // names the workload in the record; exec_label(command) by default
  int warmup = 1;     // marked steps left out of the step time (they count for memory)
  int batch = 0;      // samples per step, for samples_per_s; 0: not known
  // Where to write the trace of the run's malloc-family calls (benches/cli/capture.h),
  // captured by the capture library preloaded first; empty: no capture.
  std::string capture;
  std::uint64_t capture_limit_bytes = 0;  // the capture stops at this size; 0: no limit
};

// The program's name, or the script's for an interpreter ("python3 train.py" -> "train").
std::string exec_label(const std::vector<std::string>& command);
// "exec/LABEL/ALLOC".
std::string exec_record_name(const ExecCell& cell);
nlohmann::json exec_config(const ExecCell& cell);

// The library to preload for `alloc` (empty for malloc); throws SpecError for a spec
// that is not a process-wide allocator, or whose library is not there.
std::string exec_allocator_library(const std::string& alloc);

// The program's path, found as a shell would; throws std::runtime_error ("command
// not found", "not executable") when there is none to run.
std::string resolve_program(const std::string& word);

// Why nothing can be preloaded into `program` (a static binary, setuid, built with a
// sanitizer; for a script, its interpreter), in one line; empty when it can be.
std::string preload_obstacle(const std::string& program);

// Runs the cell once and returns its record (status, reason and every figure the
// command let the probe and the supervisor read). `obstacle` is preload_obstacle's answer.
nlohmann::json exec_once(const ExecCell& cell, const std::string& program, const std::string& obstacle,
                         const Limits& limits, const std::string& work_dir, bool keep_timeline);

// A record for a run that could not start: the reason, the status, the config.
nlohmann::json exec_failure_record(const ExecCell& cell, RunStatus status, const std::string& reason);

}  // namespace memstrat::cli

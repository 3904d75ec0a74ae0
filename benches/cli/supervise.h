// Runs one child process under a memory budget and a time limit, from outside.
//
// The budget is enforced by a memory cgroup where the system lets us make one
// (v1 or v2; the kernel's OOM killer then stops only the child), otherwise by a
// watchdog that polls the child's RSS and kills it once over. Either way the
// outcome says `oom`, and nothing else on the machine is touched.
#pragma once

#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "benches/cli/status.h"

namespace memstrat::cli {

struct Limits {
  std::optional<std::size_t> memory_bytes;
  double timeout_s = 0;  // 0: none
};

struct Outcome {
  RunStatus status = RunStatus::crash;
  std::string reason;  // empty when ok
  int exit_code = -1;
  int signal = 0;
  double wall_s = 0;
  double start_monotonic_ns = 0;                 // CLOCK_MONOTONIC as the child was started: the timeline's zero
  std::string enforcement;                       // cgroup-v1, cgroup-v2, watchdog, none
  std::optional<std::size_t> cgroup_peak_bytes;  // the cgroup's own peak usage, where it tells
  // From wait4: the child and every descendant it waited for.
  double cpu_s = 0;
  long minor_faults = 0, major_faults = 0;
  // With ChildSetup::sample_ms: the process tree's RSS over time (the child and every
  // process under it, found through /proc/PID/task/*/children at each sample).
  struct Sample {
    double t_ms;
    std::size_t rss_bytes;
    int processes;
  };
  std::vector<Sample> timeline;
  std::size_t tree_peak_rss_bytes = 0;  // the largest sum of the tree's RSS at one sample
  int processes_seen = 0;               // distinct processes the samples found in the tree
};

// What `memstrat exec` asks of the child beyond `run`'s needs.
struct ChildSetup {
  std::vector<std::string> env;  // "KEY=VALUE", over this process's environment
  std::vector<int> inherit_fds;  // close-on-exec here, kept open in the child
  bool search_path = false;      // argv[0] without a slash is looked up in PATH
  // > 0: sample the tree's RSS this often; the watchdog then watches the tree's sum.
  double sample_ms = 0;
};

// Set by a signal handler to stop: the child is killed and the outcome is `interrupted`.
extern std::atomic<bool> stop_requested;
void install_interrupt_handler();

// Runs argv[0] with argv; its stdout and stderr go to the files (or /dev/null when empty).
Outcome supervise(const std::vector<std::string>& argv, const Limits& limits, const std::string& stdout_path,
                  const std::string& stderr_path, const ChildSetup& setup = {});

// The processes under `root`, root first (an empty list once it is gone).
std::vector<int> process_tree(int root);

// This program's own path, for the children it starts (/proc/self/exe).
std::string self_exe();

// A file whole (a child's stderr or record, a trace); empty when there is none.
std::string read_child_file(const std::string& path);

// A fresh directory under /tmp for a command's children ("/tmp/memstrat-NAME-XXXXXX"),
// removed with everything in it however the command ends. Throws when none can be made.
class WorkDir {
 public:
  explicit WorkDir(const std::string& name);
  ~WorkDir();
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Which way a budget would be enforced here ("cgroup-v1", "cgroup-v2" or "watchdog").
std::string budget_enforcement();

}  // namespace memstrat::cli

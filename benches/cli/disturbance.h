// Whether a run had the machine to itself: what the system says other load took
// from each measured step, and the rule that calls a repeat `disturbed`.
//
// The rule, in words. A measured step is disturbed when
//   - its threads waited for a CPU, ready to run while another task had it, more
//     than 10% of min(threads, CPUs) × the step's wall time (run-queue wait from
//     /proc/self/task/*/schedstat; quiet steps here wait 1-6%); or, where the kernel
//     keeps no such figure, they got less than 85% of that CPU time;
//   - or the hypervisor stole more than 10% of the CPUs' time during it (/proc/stat).
// A repeat is disturbed when so many of its steps were that its median step could
// have moved: more than (steps - 1) / 2 of them (2 of 6 leave the median to clean
// steps, 3 do not). pyperf, the anchor, warns when the maximum is far above the
// mean; a median needs no warning for the few slow steps it ignores, so the rule
// counts steps instead. The CPU share is recorded, not used where the run-queue
// wait is known: a run waiting on its own I/O (offload) gets less CPU, undisturbed.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace memstrat::cli {

inline constexpr double kMaxStepWait = 0.10;
inline constexpr double kMinStepShare = 0.85;
inline constexpr double kMaxStepSteal = 0.10;

// The whole system's CPU time from the first line of /proc/stat, in milliseconds:
// busy (user, nice, system, irq, softirq; guest is inside user), steal, and every
// state together (idle and iowait included). All zero where /proc/stat is missing.
struct SystemTimes {
  double busy_ms = 0.0, steal_ms = 0.0, total_ms = 0.0;
};
SystemTimes read_system_times();

// The 1-minute load average (/proc/loadavg), where the system has one.
std::optional<double> read_load_average();

// The mean current frequency of the CPUs in MHz: cpufreq's scaling_cur_freq where
// the kernel has it, else /proc/cpuinfo's "cpu MHz" (a virtual machine often reports
// a constant there); nothing where neither exists.
std::optional<double> read_cpu_mhz();

// CPUs this process may run on (its affinity mask).
int usable_cpus();

struct StepTiming {
  double wall_ms = 0.0, cpu_ms = 0.0;
  std::optional<double> wait_ms;  // run-queue wait of every thread, where the kernel keeps it
  double steal_ms = 0.0;          // the hypervisor's steal during the step, every CPU
  double others_ms = 0.0;         // busy CPU time of every other process during the step
};

// What happened on the machine over the measured steps.
struct RunLoad {
  std::vector<StepTiming> steps;
  int threads = 1;  // OpenMP threads the run used
  int cpus = 1;     // CPUs it could run on
  long involuntary_switches = 0;
};

struct Verdict {
  bool disturbed = false;
  int disturbed_steps = 0;
  std::vector<bool> step_disturbed;  // per measured step, in order: did the rule mark it?
  std::string reason;                // what the disturbed steps had, with figures; empty when none was
  double cpu_share = 0.0;            // process CPU over the steps ÷ (min(threads, cpus) × their wall time)
  double min_step_share = 0.0;
  std::optional<double> wait_share;  // run-queue wait over the steps ÷ (min(threads, cpus) × wall)
  std::optional<double> max_step_wait_share;
  double steal_share = 0.0;   // steal ÷ (cpus × wall)
  double others_share = 0.0;  // other processes' CPU ÷ (cpus × wall)
};

Verdict judge(const RunLoad& load);

// The measured steps a run's figure is made of: those the verdict did not mark, when the
// run is not disturbed (at least half its steps are then clean, and their median is what
// the program did); every step when it is (the suite runs it again).
std::vector<double> figure_steps(const std::vector<double>& step_ms, const Verdict& verdict);

}  // namespace memstrat::cli

#include "benches/cli/disturbance.h"

#include <fmt/core.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace memstrat::cli {

SystemTimes read_system_times() {
  SystemTimes t;
  std::ifstream in("/proc/stat");
  std::string cpu;
  // user nice system idle iowait irq softirq steal guest guest_nice, in clock ticks
  double v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  if (!(in >> cpu) || cpu != "cpu") return t;
  for (double& x : v)
    if (!(in >> x)) break;
  const double ms_per_tick = 1000.0 / double(::sysconf(_SC_CLK_TCK));
  t.busy_ms = (v[0] + v[1] + v[2] + v[5] + v[6]) * ms_per_tick;
  t.steal_ms = v[7] * ms_per_tick;
  t.total_ms = (v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]) * ms_per_tick;
  return t;
}

std::optional<double> read_load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0.0;
  if (in >> one) return one;
  return std::nullopt;
}

std::optional<double> read_cpu_mhz() {
  double sum = 0.0;
  int n = 0;
  for (int cpu = 0;; ++cpu) {
    std::ifstream in(fmt::format("/sys/devices/system/cpu/cpu{}/cpufreq/scaling_cur_freq", cpu));
    double khz = 0.0;
    if (!(in >> khz)) break;
    sum += khz / 1000.0, ++n;
  }
  if (n > 0) return sum / n;
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  while (std::getline(info, line)) {
    double mhz = 0.0;
    if (std::sscanf(line.c_str(), "cpu MHz : %lf", &mhz) == 1 || std::sscanf(line.c_str(), "cpu MHz\t: %lf", &mhz) == 1)
      sum += mhz, ++n;
  }
  if (n > 0) return sum / n;
  return std::nullopt;
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return int(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  return std::max(1, CPU_COUNT(&set));
}

Verdict judge(const RunLoad& load) {
  Verdict v;
  if (load.steps.empty()) return v;
  const double lanes = double(std::max(1, std::min(load.threads, load.cpus)));
  const double cpus = double(std::max(1, load.cpus));
  const bool waits_known =
      std::all_of(load.steps.begin(), load.steps.end(), [](const StepTiming& s) { return s.wait_ms.has_value(); });
  double cpu = 0.0, wall = 0.0, wait = 0.0, steal = 0.0, others = 0.0, max_wait = 0.0, max_steal = 0.0;
  v.min_step_share = 1e300;
  int waited = 0, starved = 0, stolen = 0;
  for (const StepTiming& s : load.steps) {
    if (s.wall_ms <= 0.0) {
      v.step_disturbed.push_back(false);
      continue;
    }
    cpu += s.cpu_ms, wall += s.wall_ms, steal += s.steal_ms, others += std::max(0.0, s.others_ms);
    const double share = s.cpu_ms / (lanes * s.wall_ms), steal_share = s.steal_ms / (cpus * s.wall_ms);
    const double wait_share = waits_known ? *s.wait_ms / (lanes * s.wall_ms) : 0.0;
    v.min_step_share = std::min(v.min_step_share, share);
    max_wait = std::max(max_wait, wait_share), max_steal = std::max(max_steal, steal_share);
    wait += waits_known ? *s.wait_ms : 0.0;
    const bool waited_here = waits_known ? wait_share > kMaxStepWait : share < kMinStepShare;
    const bool stolen_here = steal_share > kMaxStepSteal;
    waited += waited_here ? 1 : 0, stolen += stolen_here ? 1 : 0;
    starved += share < kMinStepShare ? 1 : 0;
    v.disturbed_steps += waited_here || stolen_here ? 1 : 0;
    v.step_disturbed.push_back(waited_here || stolen_here);
  }
  if (wall <= 0.0) return v;
  v.cpu_share = cpu / (lanes * wall);
  if (waits_known) v.wait_share = wait / (lanes * wall), v.max_step_wait_share = max_wait;
  v.steal_share = steal / (cpus * wall);
  v.others_share = others / (cpus * wall);

  const int steps = int(load.steps.size());
  std::string why;
  if (waited > 0)
    why = waits_known ? fmt::format("{} waited for a CPU more than {:.0f}% of the time (most: {:.0f}%)", waited,
                                    kMaxStepWait * 100, max_wait * 100)
                      : fmt::format("{} got less than {:.0f}% of the CPU of their {} threads (least: {:.0f}%)", starved,
                                    kMinStepShare * 100, int(lanes), v.min_step_share * 100);
  if (stolen > 0)
    why += fmt::format("{}{} lost more than {:.0f}% of the CPUs to the hypervisor (most: {:.0f}%)",
                       why.empty() ? "" : "; ", stolen, kMaxStepSteal * 100, max_steal * 100);
  if (!why.empty())
    v.reason = fmt::format("{} of {} measured steps disturbed: {}; other processes used {:.0f}% of the CPUs",
                           v.disturbed_steps, steps, why, v.others_share * 100);
  v.disturbed = v.disturbed_steps > (steps - 1) / 2;
  return v;
}

std::vector<double> figure_steps(const std::vector<double>& step_ms, const Verdict& verdict) {
  if (verdict.disturbed || verdict.step_disturbed.size() != step_ms.size()) return step_ms;
  std::vector<double> clean;
  for (std::size_t i = 0; i < step_ms.size(); ++i)
    if (!verdict.step_disturbed[i]) clean.push_back(step_ms[i]);
  return clean;
}

}  // namespace memstrat::cli

// What the run measures about its own process: resident memory from /proc,
// the peak-RSS mark, page faults, CPU time, and RSS sampled through the run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace memstrat::cli {

struct ProcessMemory {
  std::size_t rss_bytes = 0;   // VmRSS
  std::size_t hwm_bytes = 0;   // VmHWM: the peak since start or since the last reset
  std::size_t anon_bytes = 0;  // RssAnon
  std::size_t file_bytes = 0;  // RssFile (+ RssShmem)
};
ProcessMemory read_process_memory();

// Resets VmHWM to the current RSS (/proc/self/clear_refs <- 5). False where the
// kernel does not allow it; the peak then comes from the sampler.
bool reset_peak_rss();

struct ProcessTimes {
  long minor_faults = 0, major_faults = 0;
  long involuntary_switches = 0;  // every thread: the scheduler took the CPU away
  double cpu_ms = 0.0;            // user + system, every thread
};
ProcessTimes read_process_times();

// CPU time of every thread of this process so far, to the nanosecond (CLOCK_PROCESS_CPUTIME_ID).
double process_cpu_ms();

// Time the threads of this process have spent runnable but waiting for a CPU, summed
// over the threads alive now (/proc/self/task/*/schedstat, second field); nothing
// where the kernel does not keep it.
std::optional<double> process_run_delay_ms();

// Samples RSS every few milliseconds on its own thread, for the memory-over-time
// chart. Keeps at most kMaxPoints points, halving the resolution (keeping maxima) when full.
class RssSampler {
 public:
  struct Point {
    double t_ms;
    std::size_t rss_bytes, anon_bytes, file_bytes;
  };
  static constexpr std::size_t kMaxPoints = 2048;

  explicit RssSampler(double interval_ms = 5.0);
  ~RssSampler() { stop(); }
  void start();
  void stop();
  void mark_step();  // a step just ended
  std::vector<Point> points() const;
  std::vector<double> step_end_ms() const;
  Point peak() const;                             // the sample with the largest RSS since start or reset_peak
  double elapsed_ms() const { return now_ms(); }  // on the samples' clock
  void reset_peak();

 private:
  void add(const Point& p);
  double now_ms() const;
  double interval_ms_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<Point> points_;
  std::vector<double> step_ends_;
  Point peak_{};
  int stride_ = 1, skipped_ = 0;
};

}  // namespace memstrat::cli

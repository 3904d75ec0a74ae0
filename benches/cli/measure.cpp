#include "benches/cli/measure.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace memstrat::cli {

ProcessMemory read_process_memory() {
  ProcessMemory m;
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return m;
  char line[256];
  std::size_t shmem = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    std::size_t kib = 0;
    if (std::sscanf(line, "VmRSS: %zu kB", &kib) == 1)
      m.rss_bytes = kib * 1024;
    else if (std::sscanf(line, "VmHWM: %zu kB", &kib) == 1)
      m.hwm_bytes = kib * 1024;
    else if (std::sscanf(line, "RssAnon: %zu kB", &kib) == 1)
      m.anon_bytes = kib * 1024;
    else if (std::sscanf(line, "RssFile: %zu kB", &kib) == 1)
      m.file_bytes = kib * 1024;
    else if (std::sscanf(line, "RssShmem: %zu kB", &kib) == 1)
      shmem = kib * 1024;
  }
  std::fclose(f);
  m.file_bytes += shmem;
  return m;
}

bool reset_peak_rss() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

ProcessTimes read_process_times() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  ProcessTimes t;
  t.minor_faults = usage.ru_minflt;
  t.major_faults = usage.ru_majflt;
  t.involuntary_switches = usage.ru_nivcsw;
  t.cpu_ms = (double(usage.ru_utime.tv_sec) + double(usage.ru_stime.tv_sec)) * 1e3 +
             (double(usage.ru_utime.tv_usec) + double(usage.ru_stime.tv_usec)) * 1e-3;
  return t;
}

double process_cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

std::optional<double> process_run_delay_ms() {
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return std::nullopt;
  double total_ns = 0.0;
  bool any = false;
  while (const dirent* entry = ::readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + entry->d_name + "/schedstat";
    FILE* f = std::fopen(path.c_str(), "re");
    if (f == nullptr) continue;
    unsigned long long on_cpu = 0, waiting = 0;
    if (std::fscanf(f, "%llu %llu", &on_cpu, &waiting) == 2) total_ns += double(waiting), any = true;
    std::fclose(f);
  }
  ::closedir(tasks);
  if (!any) return std::nullopt;
  return total_ns * 1e-6;
}

RssSampler::RssSampler(double interval_ms) : interval_ms_(interval_ms) {}

double RssSampler::now_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
}

void RssSampler::add(const Point& p) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (p.rss_bytes >= peak_.rss_bytes) peak_ = p;
  if (++skipped_ < stride_) {
    // Between kept points, keep the largest: the chart must not miss a peak.
    if (!points_.empty() && p.rss_bytes > points_.back().rss_bytes) points_.back() = p;
    return;
  }
  skipped_ = 0;
  points_.push_back(p);
  if (points_.size() >= kMaxPoints) {
    std::vector<Point> halved;
    for (std::size_t i = 0; i + 1 < points_.size(); i += 2)
      halved.push_back(points_[i].rss_bytes >= points_[i + 1].rss_bytes ? points_[i] : points_[i + 1]);
    points_ = std::move(halved);
    stride_ *= 2;
  }
}

void RssSampler::start() {
  start_ = std::chrono::steady_clock::now();
  running_ = true;
  thread_ = std::thread([this] {
    while (running_) {
      const ProcessMemory m = read_process_memory();
      add({now_ms(), m.rss_bytes, m.anon_bytes, m.file_bytes});
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(interval_ms_));
    }
  });
}

void RssSampler::stop() {
  if (!running_.exchange(false)) return;
  thread_.join();
  const ProcessMemory m = read_process_memory();
  add({now_ms(), m.rss_bytes, m.anon_bytes, m.file_bytes});
}

void RssSampler::mark_step() {
  const double t = now_ms();
  const ProcessMemory m = read_process_memory();
  add({t, m.rss_bytes, m.anon_bytes, m.file_bytes});
  std::lock_guard<std::mutex> lock(mutex_);
  step_ends_.push_back(t);
}

std::vector<RssSampler::Point> RssSampler::points() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return points_;
}

std::vector<double> RssSampler::step_end_ms() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return step_ends_;
}

void RssSampler::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  peak_ = {};
}

RssSampler::Point RssSampler::peak() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}

}  // namespace memstrat::cli

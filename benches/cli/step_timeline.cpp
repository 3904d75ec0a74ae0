#include "benches/cli/step_timeline.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace memstrat::cli {

StepTimeline::StepTimeline(const Allocator& allocator, AllocObserver& next)
    : allocator_(allocator), next_(next), page_bytes_(std::size_t(sysconf(_SC_PAGESIZE))) {
  statm_ = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
}

StepTimeline::~StepTimeline() {
  if (statm_ >= 0) ::close(statm_);
}

std::uint32_t StepTimeline::now_us() const {
  return std::uint32_t(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_).count());
}

std::size_t StepTimeline::read_rss() const {
  if (statm_ < 0) return 0;
  char text[128];
  const ssize_t n = ::pread(statm_, text, sizeof text - 1, 0);
  if (n <= 0) return 0;
  text[n] = '\0';
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(text, "%llu %llu", &size, &resident) != 2) return 0;
  return std::size_t(resident) * page_bytes_;
}

void StepTimeline::add(const AllocRequest& request, std::int64_t bytes) {
  if (!recording_ || request.bytes == 0) return;
  if (events_.size() >= kMaxEvents) {
    truncated_ = true;
    return;
  }
  const auto began = std::chrono::steady_clock::now();
  events_.push_back({now_us(), std::uint8_t(request.kind), bytes, read_rss(), allocator_.reserved_bytes()});
  spent_ += std::chrono::steady_clock::now() - began;
}

void StepTimeline::on_allocate(const AllocRequest& request, const void* pointer) {
  next_.on_allocate(request, pointer);
  add(request, std::int64_t(request.bytes));
}

void StepTimeline::on_deallocate(const AllocRequest& request, const void* pointer) {
  next_.on_deallocate(request, pointer);
  add(request, -std::int64_t(request.bytes));
}

void StepTimeline::on_step_begin(int step) {
  next_.on_step_begin(step);
  if (!armed_) return;
  armed_ = false, recording_ = true, step_ = step;
  events_.reserve(4096);
  start_by_kind_ = allocator_.stats().live_by_kind;
  start_ = std::chrono::steady_clock::now();
  start_rss_ = read_rss();
}

void StepTimeline::on_step_end(int step) {
  next_.on_step_end(step);
  if (!recording_) return;
  end_us_ = now_us();
  recording_ = false, done_ = true;
}

void StepTimeline::on_phase(Phase phase) {
  next_.on_phase(phase);
  if (recording_) phases_.emplace_back(phase, now_us());
}

nlohmann::json StepTimeline::json(double step_start_ms) const {
  nlohmann::json t = nlohmann::json::array(), kind = nlohmann::json::array(), bytes = nlohmann::json::array(),
                 rss = nlohmann::json::array(), reserved = nlohmann::json::array();
  bool knows_reserved = !events_.empty();
  for (const Event& e : events_) {
    t.push_back(e.t_us), kind.push_back(e.kind), bytes.push_back(e.bytes), rss.push_back(e.rss_bytes);
    knows_reserved = knows_reserved && e.reserved_bytes.has_value();
    reserved.push_back(e.reserved_bytes.value_or(0));
  }
  nlohmann::json kinds = nlohmann::json::array(), phases = nlohmann::json::array();
  for (int k = 0; k < kBufferKindCount; ++k) kinds.push_back(to_string(BufferKind(k)));
  for (const auto& [phase, at] : phases_) phases.push_back({{"phase", to_string(phase)}, {"t_us", at}});
  nlohmann::json r = {
      {"step", step_},
      {"step_start_ms", std::round(step_start_ms * 10) / 10},
      {"step_us", end_us_},
      {"kinds", kinds},
      {"start_live_by_kind", start_by_kind_},
      {"start_rss_bytes", start_rss_},
      {"phases", phases},
      {"t_us", t},
      {"kind", kind},
      {"bytes", bytes},
      {"rss_bytes", rss},
      {"events", events_.size()},
      {"truncated", truncated_},
      {"recording_ms", std::round(std::chrono::duration<double, std::milli>(spent_).count() * 1000) / 1000}};
  if (knows_reserved) r["reserved_bytes"] = reserved;
  return r;
}

}  // namespace memstrat::cli

// One training step as the allocator saw it, event by event: after every allocate
// and deallocate of the recorded step, the time since the step began, which kind of
// buffer changed by how many bytes (so live bytes by kind follow by summing), the
// process's RSS and the allocator's reserved bytes where it knows them; and when each
// phase (forward, backward, optimizer) began. The report's stacked timelines are
// drawn from it (results key `step_timeline`).
//
// Cost and bound: reading RSS is one pread of /proc/self/statm per event (about
// 2 µs here) and reserved_bytes() is the strategy's own query; both happen inside
// the recorded step, whose time is therefore slightly longer (`recording_ms` says by
// how much, and the run's step time is a median that one step hardly moves). At most
// kMaxEvents events are kept; a step with more is recorded up to there and says so
// (`truncated`).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "kernels/allocator.h"

namespace memstrat::cli {

class StepTimeline final : public AllocObserver {
 public:
  static constexpr std::size_t kMaxEvents = 16384;

  // Forwards every event to `next` (the run's probe); records nothing until arm().
  StepTimeline(const Allocator& allocator, AllocObserver& next);
  ~StepTimeline() override;
  StepTimeline(const StepTimeline&) = delete;
  StepTimeline& operator=(const StepTimeline&) = delete;

  void on_allocate(const AllocRequest& request, const void* pointer) override;
  void on_deallocate(const AllocRequest& request, const void* pointer) override;
  void on_step_begin(int step) override;
  void on_step_end(int step) override;
  void on_phase(Phase phase) override;
  // The next step to begin is the one recorded.
  void arm() { armed_ = !done_; }

  bool recorded() const { return done_; }
  // The record's `step_timeline`; `step_start_ms` places the step on the RSS
  // timeline's clock.
  nlohmann::json json(double step_start_ms) const;

 private:
  struct Event {
    std::uint32_t t_us;
    std::uint8_t kind;
    std::int64_t bytes;  // + taken, - given back
    std::size_t rss_bytes;
    std::optional<std::size_t> reserved_bytes;
  };
  void add(const AllocRequest& request, std::int64_t bytes);
  std::uint32_t now_us() const;
  std::size_t read_rss() const;

  const Allocator& allocator_;
  AllocObserver& next_;
  int step_ = -1;
  bool armed_ = false, recording_ = false, done_ = false, truncated_ = false;
  int statm_ = -1;
  std::size_t page_bytes_;
  std::chrono::steady_clock::time_point start_;
  std::array<std::size_t, kBufferKindCount> start_by_kind_{};
  std::size_t start_rss_ = 0;
  std::vector<Event> events_;
  std::vector<std::pair<Phase, std::uint32_t>> phases_;
  std::uint32_t end_us_ = 0;
  std::chrono::steady_clock::duration spent_{};
};

}  // namespace memstrat::cli

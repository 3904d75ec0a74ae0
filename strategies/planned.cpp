// `planned`: a static memory plan, as TFLite and XLA make for inference graphs,
// applied to a training step that repeats itself.
//
// Why: every step of the trainer makes the same requests in the same order, so
// the first one can be measured and the rest laid out ahead of time in one slab
// whose size comes close to the peak of live bytes (the floor no placement can
// beat), with no search at run time.
//
// Exactly what it does:
// - Outside a step (setup: parameters, gradients, optimizer state, batch and
//   GEMM buffers) every request is a plain aligned_alloc, freed with free.
// - The plan is made before the first step from the dry run's step
//   (reserve_step: each request's size, alignment and the event counter at its
//   allocation and at its free, one counter for both, so lifetimes are exact):
//   the planner (planned.h: greedy by size, lowest fitting offset) assigns
//   offsets in one slab, taken at once with aligned_alloc, and the first step
//   runs on it. No heap is left behind by a recording step.
// - Without a reserve_step (a caller that has no dry run), the first step is
//   recorded instead: each request inside it is served by aligned_alloc and noted
//   the same way (a buffer still live at step end lives to the end), and the plan
//   is made at that step's end.
// - Later steps run on the plan: the i-th request of the step gets slab +
//   offset[i] when its size and alignment are those recorded and no live slab
//   buffer occupies that range (so a step whose lifetimes differ cannot corrupt
//   memory). Any other request (different size or alignment, more requests than
//   recorded, range still occupied, no slab) is a fallback: a plain aligned_alloc,
//   counted, the first one noted by step and index.
// reserved_bytes() = slab + bytes of plain allocations alive (rounded to their
// alignment); allocated_bytes() = bytes of live buffers as requested.
// Under AddressSanitizer (sanitizer.h) the slab is poisoned except the
// requested bytes of each live slab buffer, and the slack past a plain
// allocation's requested size is poisoned too.
#include "strategies/planned.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <numeric>
#include <unordered_map>

#include "strategies/factories.h"
#include "strategies/registry.h"
#include "strategies/sanitizer.h"

namespace memstrat {

namespace {

std::size_t align_up(std::size_t n, std::size_t align) {
  if (align <= 1) return n;
  return (n + align - 1) / align * align;
}

}  // namespace

Plan plan_greedy_by_size(const std::vector<PlanBuffer>& buffers) {
  Plan plan;
  plan.offsets.assign(buffers.size(), 0);
  plan.lower_bound_bytes = plan_lower_bound(buffers);

  std::vector<std::size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (buffers[a].size != buffers[b].size) return buffers[a].size > buffers[b].size;
    return buffers[a].first_use < buffers[b].first_use;
  });

  struct Range {
    std::size_t begin, end;
  };
  std::vector<std::size_t> placed;
  std::vector<Range> conflicts;
  for (const std::size_t index : order) {
    const PlanBuffer& buffer = buffers[index];
    conflicts.clear();
    for (const std::size_t other : placed)
      if (lifetimes_overlap(buffer, buffers[other]))
        conflicts.push_back({plan.offsets[other], plan.offsets[other] + buffers[other].size});
    std::sort(conflicts.begin(), conflicts.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    // Lowest aligned offset whose range misses every conflicting one. Ranges come by
    // start, so once one starts past the candidate's end, all later ones do too.
    std::size_t offset = 0;
    for (const Range& range : conflicts) {
      if (range.end <= offset || buffer.size == 0) continue;
      if (range.begin >= offset + buffer.size) break;
      offset = align_up(range.end, buffer.align);
    }
    plan.offsets[index] = offset;
    plan.slab_bytes = std::max(plan.slab_bytes, offset + buffer.size);
    placed.push_back(index);
  }
  return plan;
}

std::size_t plan_lower_bound(const std::vector<PlanBuffer>& buffers) {
  // A buffer counts from first_use to last_use inclusive: it leaves at last_use + 1,
  // and at equal times leaving is counted before arriving.
  std::vector<std::pair<std::uint64_t, std::ptrdiff_t>> events;
  events.reserve(2 * buffers.size());
  for (const PlanBuffer& b : buffers) {
    events.emplace_back(b.first_use, std::ptrdiff_t(b.size));
    events.emplace_back(b.last_use + 1, -std::ptrdiff_t(b.size));
  }
  std::sort(events.begin(), events.end());
  std::ptrdiff_t live = 0, peak = 0;
  for (const auto& event : events) {
    live += event.second;
    peak = std::max(peak, live);
  }
  return std::size_t(peak);
}

namespace {

class PlannedAllocator final : public Allocator {
 public:
  PlannedAllocator() : Allocator("planned") {}
  ~PlannedAllocator() override {
    unpoison_memory(slab_, slab_capacity_);
    std::free(slab_);
  }

  std::optional<std::size_t> reserved_bytes() const override { return slab_capacity_ + plain_bytes_; }
  std::optional<std::size_t> allocated_bytes() const override { return live_bytes_; }

  std::vector<std::pair<std::string, double>> own_figures() const override {
    std::vector<std::pair<std::string, double>> figures;
    if (plan_ready_) {
      figures.emplace_back("plan_slab_bytes", double(plan_.slab_bytes));
      figures.emplace_back("plan_lower_bound_bytes", double(plan_.lower_bound_bytes));
      figures.emplace_back("plan_buffers", double(records_.size()));
    }
    figures.emplace_back("plan_fallbacks", double(fallbacks_));
    if (fallbacks_ > 0) {
      figures.emplace_back("plan_first_departure_step", double(first_departure_step_));
      figures.emplace_back("plan_first_departure_index", double(first_departure_index_));
    }
    return figures;
  }

 private:
  enum class Mode { outside, recording, planned };

  void do_reserve_step(const std::vector<StepBuffer>& buffers) override {
    if (first_step_ || plan_ready_) return;  // planned already
    for (const StepBuffer& b : buffers) records_.push_back({b.request.bytes, b.request.align, b.taken, b.returned});
    make_plan();
  }

  void do_step_begin(int step) override {
    if (!first_step_ && !plan_ready_) {
      first_step_ = step;
      mode_ = Mode::recording;
    } else {
      first_step_ = first_step_.value_or(step);
      mode_ = plan_ready_ ? Mode::planned : Mode::outside;
    }
    step_ = step;
    next_index_ = 0;
  }

  void do_step_end(int) override {
    if (mode_ == Mode::recording) make_plan();
    mode_ = Mode::outside;
  }

  void* do_allocate(const AllocRequest& request) override {
    if (request.align == 0 || (request.align & (request.align - 1)) != 0)
      fail(request, "alignment " + std::to_string(request.align) + " is not a power of two");
    void* pointer = nullptr;
    switch (mode_) {
      case Mode::outside:
        pointer = plain_allocate(request);
        break;
      case Mode::recording:
        pointer = plain_allocate(request);
        if (pointer != nullptr) {
          recording_live_.emplace(pointer, records_.size());
          records_.push_back({request.bytes, request.align, clock_++, kStillLive});
        }
        break;
      case Mode::planned:
        pointer = planned_allocate(request, next_index_++);
        break;
    }
    if (pointer != nullptr) live_bytes_ += request.bytes;
    return pointer;
  }

  void do_deallocate(void* pointer, const AllocRequest& request) noexcept override {
    live_bytes_ -= request.bytes;
    char* p = static_cast<char*>(pointer);
    if (slab_ != nullptr && p >= slab_ && p < slab_ + slab_capacity_) {
      slab_live_.erase(std::size_t(p - slab_));
      poison_memory(p, request.bytes);
      return;
    }
    if (mode_ == Mode::recording) {
      const auto it = recording_live_.find(pointer);
      if (it != recording_live_.end()) {
        records_[it->second].last_use = clock_++;
        recording_live_.erase(it);
      }
    }
    plain_bytes_ -= align_up(request.bytes, request.align);
    unpoison_memory(pointer, align_up(request.bytes, request.align));
    std::free(pointer);
  }

  void* plain_allocate(const AllocRequest& request) {
    if (request.bytes > SIZE_MAX / 4 || request.align > SIZE_MAX / 4) return nullptr;
    const std::size_t size = align_up(request.bytes, request.align);
    void* pointer = std::aligned_alloc(request.align, size);
    if (pointer != nullptr) plain_bytes_ += size;
    hand_out(pointer, request.bytes, size);
    return pointer;
  }

  void* planned_allocate(const AllocRequest& request, std::size_t index) {
    if (slab_ != nullptr && index < records_.size() && records_[index].size == request.bytes &&
        records_[index].align == request.align) {
      const std::size_t begin = plan_.offsets[index], end = begin + request.bytes;
      // Live slab ranges never overlap each other, so only the neighbours can collide.
      const auto next = slab_live_.lower_bound(begin);
      const bool clear = (next == slab_live_.end() || next->first >= end) &&
                         (next == slab_live_.begin() || std::prev(next)->second <= begin);
      if (clear) {
        slab_live_.emplace(begin, end);
        unpoison_memory(slab_ + begin, request.bytes);
        return slab_ + begin;
      }
    }
    if (fallbacks_ == 0) {
      first_departure_step_ = step_;
      first_departure_index_ = index;
    }
    ++fallbacks_;
    return plain_allocate(request);
  }

  void make_plan() {
    for (auto& [pointer, index] : recording_live_) records_[index].last_use = clock_;
    recording_live_.clear();
    plan_ = plan_greedy_by_size(records_);
    plan_ready_ = true;
    std::size_t max_align = 4096;
    for (const PlanBuffer& b : records_) max_align = std::max(max_align, b.align);
    const std::size_t capacity = align_up(plan_.slab_bytes, max_align);
    if (capacity > 0) {
      // Without a slab every later request falls back: slower and counted, but safe.
      slab_ = static_cast<char*>(std::aligned_alloc(max_align, capacity));
      slab_capacity_ = slab_ != nullptr ? capacity : 0;
      poison_memory(slab_, slab_capacity_);
    }
  }

  static constexpr std::uint64_t kStillLive = ~std::uint64_t(0);

  Mode mode_ = Mode::outside;
  std::optional<int> first_step_;
  int step_ = 0;
  // The recorded step.
  std::vector<PlanBuffer> records_;
  std::unordered_map<void*, std::size_t> recording_live_;  // pointer -> its record
  std::uint64_t clock_ = 0;                                // allocations and frees seen while recording
  // The plan.
  Plan plan_;
  bool plan_ready_ = false;
  char* slab_ = nullptr;
  std::size_t slab_capacity_ = 0;
  std::map<std::size_t, std::size_t> slab_live_;  // offset -> end of each live slab buffer
  std::size_t next_index_ = 0;                    // requests made so far in this step
  // Accounting.
  std::size_t plain_bytes_ = 0;
  std::size_t live_bytes_ = 0;
  std::uint64_t fallbacks_ = 0;
  int first_departure_step_ = 0;
  std::size_t first_departure_index_ = 0;
};

}  // namespace

std::unique_ptr<Allocator> make_planned(std::string_view option) {
  refuse_option("allocator", "planned", option);
  return std::make_unique<PlannedAllocator>();
}

}  // namespace memstrat

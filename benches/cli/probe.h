// The allocator's own view at its peak: sampled whenever live bytes reach a new
// high once start() is called (after warm-up: the steady state, not the step in
// which a strategy records, sizes or spills), so reserved and allocated are read
// at the same moment as the peak of the measured steps.
#pragma once

#include <optional>

#include "kernels/allocator.h"

namespace memstrat::cli {

class AllocatorProbe final : public AllocObserver {
 public:
  explicit AllocatorProbe(const Allocator& allocator) : allocator_(allocator) {}
  void start() { measuring_ = true, peak_live_ = 0; }
  void on_allocate(const AllocRequest&, const void*) override {
    const std::size_t live = allocator_.stats().live_bytes;
    if (!measuring_ || live <= peak_live_) return;
    peak_live_ = live;
    reserved = allocator_.reserved_bytes();
    allocated = allocator_.allocated_bytes();
  }
  void on_deallocate(const AllocRequest&, const void*) override {}
  std::optional<std::size_t> reserved, allocated;

 private:
  const Allocator& allocator_;
  std::size_t peak_live_ = 0;
  bool measuring_ = false;
};

}  // namespace memstrat::cli

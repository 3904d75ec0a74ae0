// The allocator's own view at its peak: sampled whenever live bytes reach a new
// high, so reserved and allocated are read at the same moment as the peak.
#pragma once

#include <optional>

#include "kernels/allocator.h"

namespace memstrat::cli {

class AllocatorProbe final : public AllocObserver {
 public:
  explicit AllocatorProbe(const Allocator& allocator) : allocator_(allocator) {}
  void on_allocate(const AllocRequest&, const void*) override {
    const std::size_t live = allocator_.stats().live_bytes;
    if (live <= peak_live_) return;
    peak_live_ = live;
    reserved = allocator_.reserved_bytes();
    allocated = allocator_.allocated_bytes();
  }
  void on_deallocate(const AllocRequest&, const void*) override {}
  std::optional<std::size_t> reserved, allocated;

 private:
  const Allocator& allocator_;
  std::size_t peak_live_ = 0;
};

}  // namespace memstrat::cli

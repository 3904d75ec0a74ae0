// The offset planner behind the `planned` strategy, on its own so that tests can
// call it: buffers with known sizes and lifetimes in, offsets in one slab out.
//
// Greedy by size (Pisarchyk & Lee 2020, as in TFLite): buffers are taken from
// the largest down; each goes at the lowest offset, aligned for it, where it
// overlaps in space no already placed buffer whose lifetime overlaps its own.
// The slab is the highest end offset. It is a heuristic: the lower bound (the
// most bytes live at once) is reached on many traces but not on all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace memstrat {

struct PlanBuffer {
  std::size_t size = 0;
  std::size_t align = 64;       // a power of two; its offset will be a multiple of it
  std::uint64_t first_use = 0;  // lifetime, inclusive at both ends, in any event counter
  std::uint64_t last_use = 0;
};

struct Plan {
  std::vector<std::size_t> offsets;   // one per buffer, in input order
  std::size_t slab_bytes = 0;         // highest end offset
  std::size_t lower_bound_bytes = 0;  // most bytes live at once: no placement can go under it
};

// Two buffers conflict when both their lifetimes and their byte ranges overlap.
inline bool lifetimes_overlap(const PlanBuffer& a, const PlanBuffer& b) {
  return a.first_use <= b.last_use && b.first_use <= a.last_use;
}

Plan plan_greedy_by_size(const std::vector<PlanBuffer>& buffers);

// The most bytes live at the same time.
std::size_t plan_lower_bound(const std::vector<PlanBuffer>& buffers);

}  // namespace memstrat

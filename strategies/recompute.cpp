// `recompute[:N]`: gradient checkpointing (Chen et al. 2016). Forward keeps
// only each segment's input; backward runs each segment's forward again, this
// time saving, just before its backward. Segments of N layers, by default about
// sqrt(L), which bounds saved activations by O(sqrt(L)) layers for about one
// extra forward pass. The mechanism is the trainer's; this sets the segment.
#include <charconv>

#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

void apply_recompute(std::string_view option, TechniqueSet& set) {
  if (option.empty()) {
    set.recompute_segment = -1;
    return;
  }
  int n = 0;
  const auto [end, ec] = std::from_chars(option.data(), option.data() + option.size(), n);
  if (ec != std::errc() || end != option.data() + option.size() || n < 1 || n > 100000)
    throw SpecError("recompute takes a segment length of at least 1 layer: recompute:N (got 'recompute:" +
                    std::string(option) + "')");
  set.recompute_segment = n;
}

}  // namespace memstrat

// `accum:K`: gradient accumulation. The batch is split into K micro-batches;
// backward adds each one's gradients into the same buffers and one optimizer
// step follows, so the update equals the full batch's (up to floating-point
// reassociation) while only a K-th of the activations is alive at once. The
// loop itself is the trainer's; a batch that K does not divide is refused there.
#include <charconv>

#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

void apply_accum(std::string_view option, TechniqueSet& set) {
  int k = 0;
  const auto [end, ec] = std::from_chars(option.data(), option.data() + option.size(), k);
  if (option.empty() || ec != std::errc() || end != option.data() + option.size() || k < 1 || k > 65536)
    throw SpecError("accum needs a micro-batch count from 1 to 65536: accum:K (got 'accum:" + std::string(option) +
                    "')");
  set.accum = k;
}

}  // namespace memstrat

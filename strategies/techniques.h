// The second axis: training techniques, by name, in one table.
//
// A technique list is comma-separated: "bf16,accum:4,recompute". Techniques
// combine with each other and with every allocator; each is one file under
// strategies/ and sets its part of a TechniqueSet, which the session hands to
// the trainer (accum, recompute segment) and the kernel (activation store).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/activation.h"

namespace memstrat {

struct TechniqueSet {
  int accum = 1;                           // micro-batches per optimizer step
  int recompute_segment = 0;               // 0: off; -1: about sqrt(layers); N: N layers per segment
  std::unique_ptr<ActivationStore> store;  // how saved activations are kept; null: as they are
  int zero_stage = -1;                     // data parallelism over --ranks: -1 none, 0 dp, 1-3 ZeRO
  std::vector<std::string> names;          // the techniques applied, as given
  std::string label() const;               // "bf16+accum:4", or "none"
};

struct TechniqueEntry {
  std::string_view name;
  std::string_view usage;    // "accum:K"
  std::string_view summary;  // one line on what it is
  // Sets the technique's part of `set`; throws SpecError on a bad option or a clash.
  void (*apply)(std::string_view option, TechniqueSet& set);
};

const std::vector<TechniqueEntry>& technique_entries();

// Parses a comma-separated list ("" or "none": no technique). Throws SpecError.
TechniqueSet make_techniques(std::string_view list);

}  // namespace memstrat

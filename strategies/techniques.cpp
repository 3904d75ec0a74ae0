#include "strategies/techniques.h"

#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

const std::vector<TechniqueEntry>& technique_entries() {
  static const std::vector<TechniqueEntry> entries = {
      {"fp16", "fp16", "activations saved for backward stored as IEEE half (F16C), widened when read", apply_fp16},
      {"bf16", "bf16", "activations saved for backward stored as bfloat16 (AVX512-BF16), widened when read",
       apply_bf16},
      {"accum", "accum:K", "the batch split into K micro-batches whose gradients are summed: one optimizer step",
       apply_accum},
      {"recompute", "recompute[:N]",
       "gradient checkpointing: keep segment inputs only, recompute each N-layer segment in backward "
       "(default N about sqrt(layers))",
       apply_recompute},
      {"offload", "offload", "activations saved for backward moved to a file mapping of our own until backward",
       apply_offload},
      {"dp", "dp", "data parallel over --ranks: gradients all-reduced in 4 MiB buckets, every rank steps alike",
       apply_dp},
      {"zero", "zero:S",
       "data parallel over --ranks with model state sharded (ZeRO): 1 optimizer state, 2 and gradients, 3 and "
       "parameters, each rank keeping 1/ranks",
       apply_zero},
  };
  return entries;
}

std::string TechniqueSet::label() const {
  if (names.empty()) return "none";
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : "+") + name;
  return out;
}

TechniqueSet make_techniques(std::string_view list) {
  TechniqueSet set;
  if (list.empty() || list == "none") return set;
  for (std::size_t start = 0; start <= list.size();) {
    const auto comma = std::min(list.find(',', start), list.size());
    const std::string_view item = list.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) throw SpecError("empty technique in '" + std::string(list) + "'");
    const auto [name, option] = split_spec(item);
    const TechniqueEntry* entry = nullptr;
    for (const auto& e : technique_entries())
      if (e.name == name) entry = &e;
    if (entry == nullptr) {
      std::string known;
      for (const auto& e : technique_entries()) known += (known.empty() ? "" : ", ") + std::string(e.usage);
      throw SpecError("unknown technique '" + std::string(item) + "' (known: " + known + ")");
    }
    for (const auto& seen : set.names)
      if (split_spec(seen).first == name) throw SpecError("technique '" + std::string(name) + "' given twice");
    entry->apply(option, set);
    set.names.emplace_back(item);
  }
  return set;
}

}  // namespace memstrat

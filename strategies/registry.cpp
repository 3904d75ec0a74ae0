#include "strategies/registry.h"

#include "strategies/factories.h"

namespace memstrat {

const std::vector<AllocatorEntry>& allocator_entries() {
  static const std::vector<AllocatorEntry> entries = {
      {"malloc", "malloc", "the C library's allocator (glibc ptmalloc2), untouched", false, make_malloc},
      {"arena", "arena[:separate]",
       "cyclic workspace: persistent region + per-step bump region reset every step "
       "(:separate: one region per phase)",
       false, make_arena},
      {"pool", "pool[:best|first|worst]",
       "caching allocator (PyTorch/BFC style): rounded sizes, split and coalesce, kept until trim", false,
       make_pool},
      {"mmap", "mmap", "every buffer its own anonymous mapping, unmapped on free", false, make_mmap},
      {"planned", "planned",
       "static plan: first step recorded, offsets assigned greedy-by-size in one slab", false,
       make_planned},
  };
  return entries;
}

std::pair<std::string_view, std::string_view> split_spec(std::string_view spec) {
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos) return {spec, {}};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

static const AllocatorEntry& find_entry(std::string_view spec) {
  const auto name = split_spec(spec).first;
  for (const auto& entry : allocator_entries())
    if (entry.name == name) return entry;
  std::string known;
  for (const auto& entry : allocator_entries()) known += (known.empty() ? "" : ", ") + std::string(entry.name);
  throw SpecError("unknown allocator '" + std::string(spec) + "' (known: " + known + ")");
}

std::unique_ptr<Allocator> make_allocator(std::string_view spec) {
  return find_entry(spec).make(split_spec(spec).second);
}

std::string preload_library(std::string_view spec) {
  const auto& entry = find_entry(spec);
  (void)entry;
  return {};
}

}  // namespace memstrat

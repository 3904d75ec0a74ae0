// Factory functions of the strategies, one per file under strategies/.
// Only registry.cpp includes this: strategies never include each other.
#pragma once

#include <memory>
#include <string_view>

#include "kernels/allocator.h"

namespace memstrat {

std::unique_ptr<Allocator> make_malloc(std::string_view option);
std::unique_ptr<Allocator> make_jemalloc(std::string_view option);
std::unique_ptr<Allocator> make_mimalloc(std::string_view option);
std::unique_ptr<Allocator> make_tcmalloc(std::string_view option);
std::unique_ptr<Allocator> make_preload(std::string_view option);
std::unique_ptr<Allocator> make_arena(std::string_view option);
std::unique_ptr<Allocator> make_pool(std::string_view option);
std::unique_ptr<Allocator> make_mmap(std::string_view option);
std::unique_ptr<Allocator> make_planned(std::string_view option);

}  // namespace memstrat

// Technique parts, one per file; each sets its part of a TechniqueSet.
#include "strategies/techniques.h"

namespace memstrat {

void apply_fp16(std::string_view option, TechniqueSet& set);
void apply_bf16(std::string_view option, TechniqueSet& set);
void apply_accum(std::string_view option, TechniqueSet& set);
void apply_dp(std::string_view option, TechniqueSet& set);
void apply_zero(std::string_view option, TechniqueSet& set);
void apply_recompute(std::string_view option, TechniqueSet& set);
void apply_offload(std::string_view option, TechniqueSet& set);

}  // namespace memstrat

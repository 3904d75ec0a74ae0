// `malloc`: the C library's allocator, untouched. Also what the process-wide
// allocators (jemalloc, mimalloc, ...) are measured through once preloaded.
#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

std::unique_ptr<Allocator> make_malloc(std::string_view option) {
  if (!option.empty()) throw SpecError("allocator 'malloc' takes no option (got '" + std::string(option) + "')");
  return std::make_unique<MallocAllocator>();
}

}  // namespace memstrat

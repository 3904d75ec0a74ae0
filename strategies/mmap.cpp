// PLACEHOLDER until the strategy is written.
#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

std::unique_ptr<Allocator> make_mmap(std::string_view) { throw SpecError("allocator 'mmap' is not implemented yet"); }

}  // namespace memstrat

// PLACEHOLDER until the strategy is written.
#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

std::unique_ptr<Allocator> make_arena(std::string_view) { throw SpecError("allocator 'arena' is not implemented yet"); }

}  // namespace memstrat

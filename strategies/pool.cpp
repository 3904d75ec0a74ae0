// PLACEHOLDER until the strategy is written.
#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

std::unique_ptr<Allocator> make_pool(std::string_view) { throw SpecError("allocator 'pool' is not implemented yet"); }

}  // namespace memstrat
